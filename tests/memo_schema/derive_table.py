#!/usr/bin/env python3
"""Derive tests/memo_schema/elements.tsv from the MeMo 1.1 schema model.

One-off: run by hand, not by CI (the model lives outside the project). Usage:

    python3 tests/memo_schema/derive_table.py MODEL_DIR > tests/memo_schema/elements.tsv

MODEL_DIR is the folder of xsdata dataclasses generated from the official MeMo 1.1 XSDs
(itk-dev-rpa/python-serviceplatformen, commit a82f755, python_serviceplatformen/memo/).
The model is read with `ast` (never imported: it needs xsdata), so only its declarations are
used. The model does not show element order; ORDER below gives each parent's child order as the
official examples (tests/fixtures/memo/) show it, and says where an example is silent.
"""
import ast
import sys
from pathlib import Path

PREFIX = {
    "https://DigitalPost.dk/MeMo-1": "memo",
    "https://data.gov.dk/model/core/": "grd",
    "http://kle-online.dk/": "kle",
    "http://www.form-online.dk/": "form",
    "https://motorregister.skat.dk/": "dmv",
    "https://services.nsi.dk/en/Services/SOR": "sor",
    "https://www.gs1.dk/gs1-standarder/identifikation/gln-global-location-number/": "gln",
    "https://www.dst.dk/da/TilSalg/Forskningsservice/Dokumentation/hoejkvalitetsvariable/elevregister-2/udd#": "udd",
    "https://data.gov.dk/model/dataTypes/": "dataTypes",
}

# Child order per complex type (by element local name), from the official examples. Where a
# child never appears in an example, it is placed as the model lists it among the optional
# fields (the generator keeps the schema's order for those) -- marked "model".
ORDER = {
    "Message": ["MessageHeader", "MessageBody"],
    "MessageHeader": ["messageType", "messageUUID", "messageID", "messageCode", "label",
                      "notification", "additionalNotification", "reply", "replyByDateTime",
                      "doNotDeliverUntilDate", "mandatory", "legalNotification", "postType",
                      "Sender", "Recipient", "ContentData", "ForwardData", "ReplyData"],
    # idTypeLabel: never in a Sender example; before label as in Recipient (model README).
    "Sender": ["senderID", "idType", "idTypeLabel", "label", "AttentionData", "ContactPoint"],
    "Recipient": ["recipientID", "idType", "idTypeLabel", "label", "AttentionData",
                  "ContactPoint"],
    "AttentionData": ["AttentionPerson", "ProductionUnit", "GlobalLocationNumber", "EMail",
                      "SEnumber", "Telephone", "EID", "ContentResponsible", "GeneratingSystem",
                      "SORdata", "Address", "UnstructuredAddress"],
    "AttentionPerson": ["personID", "label"],
    "ProductionUnit": ["productionUnitNumber", "productionUnitName"],
    "GlobalLocationNumber1": ["globalLocationNumber", "location"],
    "Email": ["emailAddress", "relatedAgent"],
    "Senumber1": ["seNumber", "companyName"],
    "Telephone": ["telephoneNumber", "relatedAgent"],
    "Eid1": ["eID", "label"],
    "ContentResponsible": ["contentResponsibleID", "label"],
    "GeneratingSystem": ["generatingSystemID", "label"],
    "Sordata": ["sorIdentifier", "entryName"],
    "Address": ["id", "addressLabel", "houseNumber", "door", "floor", "co", "zipCode", "city",
                "country", "AddressPoint"],
    "AddressPoint": ["geographicEastingMeasure", "geographicNorthingMeasure",
                     "geographicHeightMeasure"],
    "UnstructuredAddress": ["unstructured"],
    # contactGroup before contactPointID, as both examples show.
    "ContactPoint": ["contactGroup", "contactPointID", "label", "ContactInfo"],
    "ContactInfo": ["label", "value"],
    # Address and UnstructuredAddress in ContentData: no example; model order.
    "ContentData": ["CPRdata", "CVRdata", "MotorVehicle", "PropertyNumber", "CaseID", "KLEdata",
                    "FORMdata", "ProductionUnit", "Education", "Address", "UnstructuredAddress",
                    "AdditionalContentData"],
    "Cprdata": ["cprNumber", "name"],
    "Cvrdata": ["cvrNumber", "companyName"],
    "MotorVehicle": ["licenseNumber", "chassisNumber"],
    "PropertyNumber1": ["propertyNumber"],
    "CaseId": ["caseID", "caseSystem"],
    "Kledata": ["subjectKey", "version", "activityFacet", "label"],
    "Formdata": ["taskKey", "version", "activityFacet", "label"],
    "Education": ["educationCode", "educationName"],
    "AdditionalContentData": ["contentDataType", "contentDataName", "contentDataValue"],
    "ForwardData": ["messageUUID", "originalMessageDateTime", "originalSender",
                    "originalContentResponsible", "contactPointID", "comment"],
    # messageID before messageUUID here (both ReplyData in the full examples).
    "ReplyData": ["messageID", "messageUUID", "replyUUID", "senderID", "recipientID", "caseID",
                  "contactPointID", "generatingSystemID", "comment", "AdditionalReplyData"],
    "AdditionalReplyData": ["label", "value"],
    "MessageBody": ["createdDateTime", "MainDocument", "AdditionalDocument",
                    "TechnicalDocument"],
    "MainDocument": ["mainDocumentID", "label", "File", "Action"],
    "AdditionalDocument": ["additionalDocumentID", "label", "File", "Action"],
    "TechnicalDocument": ["technicalDocumentID", "label", "File"],
    "File": ["encodingFormat", "filename", "language", "content"],
    "Action": ["label", "actionCode", "startDateTime", "endDateTime", "Reservation",
               "EntryPoint"],
    "Reservation": ["description", "reservationUUID", "abstract", "location", "startDateTime",
                    "endDateTime", "organizerMail", "organizerName"],
    "EntryPoint": ["url"],
}

UUID_PATTERN = ("[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-4[a-fA-F0-9]{3}-[aAbB89][a-fA-F0-9]{3}-"
                "[a-fA-F0-9]{12}")


OPTIONAL_IN_1_2 = {"/Message/MessageHeader/mandatory", "/Message/MessageHeader/legalNotification"}

# MeMo 1.2 additions, not in the 1.1 model: shape from the 1.2 full example only (cardinality
# and lengths are not published there, so the suite generates them in valid messages and tests
# no facet on them but unknown element/attribute). Inserted after the given path.
_REP = "/Message/MessageHeader/Sender/Representative"
AFTER = {
    "/Message/MessageHeader/Sender/ContactPoint/ContactInfo/value": [
        [_REP, "memo", "-", "0", "1", "complex", "", "", "1.2", "example-1.2"],
        [_REP + "/representativeID", "memo", "-", "1", "1", "string", "256", "", "1.2",
         "example-1.2"],
        [_REP + "/idType", "memo", "-", "1", "1", "string", "256", "", "1.2", "example-1.2"],
        [_REP + "/label", "memo", "-", "1", "1", "string", "256", "", "1.2", "example-1.2"],
    ],
    "/Message/MessageHeader/ForwardData/originalContentResponsible": [
        ["/Message/MessageHeader/ForwardData/originalRepresentative", "memo", "-", "0", "1",
         "string", "256", "", "1.2", "example-1.2"],
    ],
}


def literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def load(model_dir):
    """Every dataclass in the model, by (module, class name) -- class names repeat across
    modules (kle, form and grd each have a `Label`) -- and each module's imported names."""
    classes = {}
    imports = {}
    for path in sorted(Path(model_dir).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = path.stem
        imports[module] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.startswith(
                    "python_serviceplatformen.memo."):
                for alias in stmt.names:
                    imports[module][alias.asname or alias.name] = (
                        stmt.module.rsplit(".", 1)[1], alias.name)
        module_ns = None
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and stmt.targets[0].id == "__NAMESPACE__":
                module_ns = literal(stmt.value)
        for stmt in tree.body:
            if not isinstance(stmt, ast.ClassDef):
                continue
            meta = {"name": stmt.name, "namespace": module_ns}
            fields = []
            enum = [literal(s.value) for s in stmt.body
                    if isinstance(s, ast.Assign) and any(
                        isinstance(b, ast.Name) and b.id == "Enum" for b in stmt.bases)]
            for s in stmt.body:
                if isinstance(s, ast.ClassDef) and s.name == "Meta":
                    for m in s.body:
                        meta[m.targets[0].id] = literal(m.value)
                if isinstance(s, ast.AnnAssign):
                    call = s.value
                    kw = {k.arg: k.value for k in call.keywords}
                    md = literal(kw["metadata"]) if "metadata" in kw else {}
                    has_default = "default" in kw or "default_factory" in kw
                    fields.append({
                        "attr": s.target.id,
                        "annotation": ast.unparse(s.annotation),
                        "md": md,
                        # xsdata marks a field without a default as required even where the
                        # metadata omits "required" (FORMdata/activityFacet).
                        "required": md.get("required", False) or not has_default,
                    })
            classes[(module, stmt.name)] = {"meta": meta, "fields": fields, "enum": enum,
                                            "module": module}
    return classes, imports


def resolve(classes, imports, module, name):
    """The class a type name means inside `module`: its own, else the one it imports."""
    if (module, name) in classes:
        return (module, name)
    return imports.get(module, {}).get(name)


def type_name(annotation):
    for wrapper in ("Optional[", "List["):
        if annotation.startswith(wrapper):
            annotation = annotation[len(wrapper):-1]
    return annotation


def kind_of(classes, field, child_class):
    """The value kind the generator needs: complex, string, uuid, datetime, date, boolean, ..."""
    md = field["md"]
    if child_class is not None:
        if child_class["enum"]:
            return "enum:" + "|".join(child_class["enum"]), None, None
        value = [f for f in child_class["fields"] if f["attr"] == "value"]
        if value and len(child_class["fields"]) == 1:
            vmd = value[0]["md"]
            if "max_inclusive" in vmd:
                return "integer", None, vmd["max_inclusive"]
            return "string", vmd.get("max_length"), None
        return "complex", None, None
    ann = type_name(field["annotation"])
    if md.get("format") == "base64":
        return "base64", None, None
    if ann == "bool":
        return "boolean", None, None
    if ann == "XmlDate":
        return "date", None, None
    pattern = md.get("pattern")
    if pattern == UUID_PATTERN:
        return "uuid", None, None
    if pattern == ".+Z":
        return "datetime", None, None
    if pattern is not None:
        raise SystemExit(f"unknown pattern {pattern}")
    return "string", md.get("max_length"), None


def walk(classes, imports, key, path, out):
    cls = classes[key]
    class_name = key[1]
    by_name = {}
    for f in cls["fields"]:
        if f["md"].get("type") == "Element":
            by_name[f["md"].get("name", f["attr"])] = f
    order = ORDER.get(class_name)
    if order is None or sorted(order) != sorted(by_name):
        raise SystemExit(f"ORDER for {class_name} is {order}, model has {sorted(by_name)}")
    for name in order:
        f = by_name[name]
        child_key = resolve(classes, imports, cls["module"], type_name(f["annotation"]))
        child_class = classes.get(child_key) if child_key else None
        ns = f["md"].get("namespace") or cls["meta"]["namespace"]
        if child_class is not None and not child_class["enum"] and child_class["meta"].get(
                "namespace") and "namespace" not in f["md"]:
            ns = child_class["meta"]["namespace"]
        kind, max_length, max_inclusive = kind_of(classes, f, child_class)
        is_list = f["annotation"].startswith("List[")
        min_occurs = f["md"].get("min_occurs", 1 if f["required"] else 0)
        max_occurs = f["md"].get("max_occurs", "unbounded" if is_list else 1)
        child_path = f"{path}/{name}"
        # 1.2 makes mandatory and legalNotification optional (the model README, the 1.2
        # minimum example).
        min_1_2 = 0 if child_path in OPTIONAL_IN_1_2 else min_occurs
        out.append([child_path, PREFIX[ns], str(min_occurs), str(min_1_2), str(max_occurs),
                    kind, str(max_length or ""), str(max_inclusive or ""), "1.1", "model"])
        for row in AFTER.get(child_path, []):
            out.append(row)
        if kind == "complex":
            walk(classes, imports, child_key, child_path, out)


def main():
    classes, imports = load(sys.argv[1])
    out = [["/Message", "memo", "1", "1", "1", "complex", "", "", "1.1", "model"]]
    walk(classes, imports, ("core", "Message"), "/Message", out)
    print("# path\tprefix\tmin_1.1\tmin_1.2\tmax\tkind\tmax_length\tmax_inclusive\tsince"
          "\tsource")
    for row in out:
        print("\t".join(row))
    model = [r for r in out if r[-1] == "model" and r[0] != "/Message"]
    print(f"{len(model)} model element paths below /Message, {len(out)} rows", file=sys.stderr)


main()
