#!/usr/bin/env python3
"""One-off: list every element path of the MeMo 1.1 schema with its facets, from the xsdata
model of the MeMo XSDs (itk-dev-rpa/python-serviceplatformen, commit a82f755,
python_serviceplatformen/memo/*.py, MIT licence).

It reads the model's files given on the command line; it does not import or run them (they
need xsdata), it parses them. The model is not part of this repository and not part of CI:
the output is committed as guest/schema-model/paths.txt, which a test in
guest/src/memo/schema.rs compares with dpost's own schema table.

    python3 guest/schema-model/derive.py path/to/memo/*.py > guest/schema-model/paths.txt

One line per path below Message, in the model's field order (not the schema's sequence order,
which the model does not keep):

    PATH NAMESPACE MIN MAX TYPE

MAX is a number or `*`; TYPE is `complex`, `string:N` (max_length), `uuid4` (MeMo's UUID
pattern), `utc` (the `.+Z` pattern), `date`, `boolean`, `enum`, `base64`, `integer:N`
(max_inclusive) or `string` (no facet).
"""
import ast
import re
import sys

UUID4 = r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-4[a-fA-F0-9]{3}-[aAbB89][a-fA-F0-9]{3}-[a-fA-F0-9]{12}"


def load(paths):
    classes = {}
    for path in paths:
        module = path.rsplit("/", 1)[-1]
        tree = ast.parse(open(path, encoding="utf-8").read())
        module_ns = None
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__NAMESPACE__":
                module_ns = ast.literal_eval(node.value)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            meta = {}
            fields = []
            for item in node.body:
                if isinstance(item, ast.ClassDef) and item.name == "Meta":
                    for m in item.body:
                        if isinstance(m, ast.Assign):
                            meta[m.targets[0].id] = ast.literal_eval(m.value)
                if isinstance(item, ast.AnnAssign):
                    metadata, has_default = {}, False
                    if isinstance(item.value, ast.Call):
                        for kw in item.value.keywords:
                            if kw.arg == "metadata":
                                metadata = ast.literal_eval(kw.value)
                            if kw.arg in ("default", "default_factory"):
                                has_default = True
                    fields.append((item.target.id, ast.unparse(item.annotation), metadata, has_default))
            if "Enum" in [ast.unparse(b) for b in node.bases]:
                fields = None
            classes[(module, node.name)] = (meta.get("namespace", module_ns), fields)
    return classes


def resolve(classes, module, name):
    """A class by name as `module` sees it: its own first (kle and form both define
    `ActivityFacet`), else the one other module that defines it (an import)."""
    if (module, name) in classes:
        return (module, name)
    found = [key for key in classes if key[1] == name]
    return found[0] if len(found) == 1 else None


def leaf_type(metadata, annotation):
    if "pattern" in metadata:
        return "uuid4" if metadata["pattern"] == UUID4 else ("utc" if metadata["pattern"] == r".+Z" else "pattern")
    if "max_length" in metadata:
        return f"string:{metadata['max_length']}"
    if "max_inclusive" in metadata:
        return f"integer:{metadata['max_inclusive']}"
    if metadata.get("format") == "base64":
        return "base64"
    return {"bool": "boolean", "XmlDate": "date", "MemoMessageType": "enum"}.get(annotation, "string")


def walk(classes, key, path, out):
    parent_ns, fields = classes[key]
    for field, annotation, metadata, has_default in fields:
        if metadata.get("type") != "Element":
            continue
        inner = re.sub(r"^(Optional|List)\[(.*)\]$", r"\2", annotation)
        element = metadata.get("name", field)
        child_path = f"{path}/{element}"
        is_list = annotation.startswith("List[")
        optional = annotation.startswith("Optional[")
        if is_list:
            low = metadata.get("min_occurs", 0)
            high = metadata.get("max_occurs", "*")
        else:
            low = 0 if optional or (has_default and not metadata.get("required")) else 1
            high = 1
        target_key = resolve(classes, key[0], inner)
        target = classes.get(target_key) if target_key else None
        # An element's namespace is its own, else its parent class's (xsdata's convention).
        ns = metadata.get("namespace") or parent_ns
        if target and target[1] is not None and any(m.get("type") == "Element" for _, _, m, _ in target[1]):
            out.append((child_path, ns, low, high, "complex"))
            walk(classes, target_key, child_path, out)
        elif target and target[1] is not None:
            # A simple element declared as a class with a `value` field.
            _, value_annotation, value_metadata, _ = target[1][0]
            out.append((child_path, ns, low, high, leaf_type(value_metadata, value_annotation)))
        else:
            out.append((child_path, ns, low, high, leaf_type(metadata, inner)))


def main():
    classes = load(sys.argv[1:])
    out = []
    walk(classes, resolve(classes, "core.py", "Message"), "/Message", out)
    print("# MeMo 1.1 element paths and facets, from the xsdata model of the MeMo XSDs")
    print("# (itk-dev-rpa/python-serviceplatformen, commit a82f755, MIT licence: LICENSE beside")
    print("# this file). Written by guest/schema-model/derive.py. PATH NAMESPACE MIN MAX TYPE")
    for row in out:
        print(" ".join(str(x) for x in row))


if __name__ == "__main__":
    main()
