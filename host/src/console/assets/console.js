// dpost console: ask before an action, where a form says so (data-confirm). Everything
// works without this script; it only adds the question.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
