//! The WIT contract is versioned: an interface may not change while the package version stays.
//!
//! `wit/CONTRACT` records the package version and a hash of each interface and world, taken
//! from the WIT as parsed (wit-parser), so comments and formatting do not count, and neither
//! does the order of functions or of type definitions; everything an embedder's bindings
//! depend on does (names, parameter and field order, types, cases). When this test fails:
//! bump the version in `wit/world.wit` as the README's versioning policy says, then rewrite the
//! lock with `DPOST_UPDATE_CONTRACT=1 cargo test -p dpost-tests --test wit_contract`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wit_parser::{Function, Handle, Resolve, Type, TypeDefKind, TypeId, WorldItem, WorldKey};

const UPDATE_VAR: &str = "DPOST_UPDATE_CONTRACT";

fn wit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit")
}

/// The package version and a canonical description of each interface and world.
struct Contract {
    version: String,
    items: BTreeMap<String, String>,
}

fn ty(resolve: &Resolve, t: &Type) -> String {
    match t {
        Type::Id(id) => type_ref(resolve, *id),
        // Primitive names are their WIT spelling in lower case (`u8`, `string`, ...).
        other => format!("{other:?}").to_lowercase(),
    }
}

fn opt(resolve: &Resolve, t: &Option<Type>) -> String {
    t.as_ref().map_or("_".into(), |t| ty(resolve, t))
}

/// A named type by its qualified name (its definition is described where it is defined); an
/// anonymous one (`list<u8>`, `option<T>`, ...) by its structure.
fn type_ref(resolve: &Resolve, id: TypeId) -> String {
    let def = &resolve.types[id];
    match &def.name {
        Some(name) => match def.owner {
            wit_parser::TypeOwner::Interface(i) => {
                format!(
                    "{}.{name}",
                    resolve.interfaces[i].name.as_deref().unwrap_or("?")
                )
            }
            _ => name.clone(),
        },
        None => type_def(resolve, &def.kind),
    }
}

fn type_def(resolve: &Resolve, kind: &TypeDefKind) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match kind {
        TypeDefKind::Record(r) => format!(
            "record {{ {} }}",
            list(
                r.fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, ty(resolve, &f.ty)))
                    .collect()
            )
        ),
        TypeDefKind::Resource => "resource".into(),
        TypeDefKind::Handle(Handle::Own(id)) => format!("own<{}>", type_ref(resolve, *id)),
        TypeDefKind::Handle(Handle::Borrow(id)) => format!("borrow<{}>", type_ref(resolve, *id)),
        TypeDefKind::Flags(f) => format!(
            "flags {{ {} }}",
            list(f.flags.iter().map(|f| f.name.clone()).collect())
        ),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            list(t.types.iter().map(|t| ty(resolve, t)).collect())
        ),
        TypeDefKind::Variant(v) => format!(
            "variant {{ {} }}",
            list(
                v.cases
                    .iter()
                    .map(|c| format!("{}({})", c.name, opt(resolve, &c.ty)))
                    .collect()
            )
        ),
        TypeDefKind::Enum(e) => format!(
            "enum {{ {} }}",
            list(e.cases.iter().map(|c| c.name.clone()).collect())
        ),
        TypeDefKind::Option(t) => format!("option<{}>", ty(resolve, t)),
        TypeDefKind::Result(r) => {
            format!("result<{}, {}>", opt(resolve, &r.ok), opt(resolve, &r.err))
        }
        TypeDefKind::List(t) => format!("list<{}>", ty(resolve, t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", ty(resolve, k), ty(resolve, v)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", ty(resolve, t)),
        TypeDefKind::Future(t) => format!("future<{}>", opt(resolve, t)),
        TypeDefKind::Stream(t) => format!("stream<{}>", opt(resolve, t)),
        TypeDefKind::Type(t) => format!("= {}", ty(resolve, t)),
        TypeDefKind::Unknown => "unknown".into(),
    }
}

fn function(resolve: &Resolve, f: &Function) -> String {
    // The name carries the kind (`[method]reader.feed`, `[constructor]reader`, ...).
    let is_async = matches!(
        f.kind,
        wit_parser::FunctionKind::AsyncFreestanding
            | wit_parser::FunctionKind::AsyncMethod(_)
            | wit_parser::FunctionKind::AsyncStatic(_)
    );
    let params: Vec<_> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, ty(resolve, &p.ty)))
        .collect();
    format!(
        "func {}{}({}) -> {}",
        if is_async { "async " } else { "" },
        f.name,
        params.join(", "),
        opt(resolve, &f.result)
    )
}

fn world_item(resolve: &Resolve, key: &WorldKey, item: &WorldItem) -> String {
    let name = resolve.name_world_key(key);
    match item {
        WorldItem::Interface { .. } => format!("interface {name}"),
        WorldItem::Function(f) => function(resolve, f),
        WorldItem::Type { id, .. } => format!("type {name} {}", type_ref(resolve, *id)),
    }
}

fn parse_contract(dir: &std::path::Path) -> Contract {
    let mut resolve = Resolve::new();
    let (package, _) = resolve
        .push_dir(dir)
        .unwrap_or_else(|e| panic!("wit/ does not parse: {e:?}"));
    let package = &resolve.packages[package];
    let version = package
        .name
        .version
        .as_ref()
        .expect("the package declares a version (`package dpost:protocol@x.y.z;`)")
        .to_string();
    let mut items = BTreeMap::new();
    for (name, id) in &package.interfaces {
        let iface = &resolve.interfaces[*id];
        let mut lines: Vec<String> = iface
            .types
            .iter()
            .map(|(n, t)| format!("type {n} {}", type_def(&resolve, &resolve.types[*t].kind)))
            .chain(iface.functions.values().map(|f| function(&resolve, f)))
            .collect();
        lines.sort();
        items.insert(format!("interface {name}"), lines.join("\n"));
    }
    for (name, id) in &package.worlds {
        let world = &resolve.worlds[*id];
        let mut lines: Vec<String> = world
            .imports
            .iter()
            .map(|(k, i)| format!("import {}", world_item(&resolve, k, i)))
            .chain(
                world
                    .exports
                    .iter()
                    .map(|(k, i)| format!("export {}", world_item(&resolve, k, i))),
            )
            .collect();
        lines.sort();
        items.insert(format!("world {name}"), lines.join("\n"));
    }
    Contract { version, items }
}

fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn render_lock(contract: &Contract) -> String {
    let mut out = String::from(
        "# The dpost:protocol contract: the package version and a SHA-256 of each interface and\n\
         # world as parsed (comments and formatting excluded). Checked by tests/wit_contract.rs;\n\
         # rewritten by DPOST_UPDATE_CONTRACT=1 cargo test -p dpost-tests --test wit_contract,\n\
         # which refuses while an interface differs from this file under the same version.\n",
    );
    out.push_str(&format!("version {}\n", contract.version));
    for (item, text) in &contract.items {
        out.push_str(&format!("{item} {}\n", hash(text)));
    }
    out
}

/// `(version, item -> hash)` from the lock file's text.
fn read_lock(text: &str) -> (String, BTreeMap<String, String>) {
    let mut version = String::new();
    let mut items = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        if let Some(v) = line.strip_prefix("version ") {
            version = v.trim().to_owned();
        } else if let Some((item, h)) = line.rsplit_once(' ') {
            items.insert(item.to_owned(), h.to_owned());
        }
    }
    (version, items)
}

/// Whether `contract` agrees with the lock; if not, what the developer must do.
fn check(contract: &Contract, lock_text: &str) -> Result<(), String> {
    let (locked_version, locked) = read_lock(lock_text);
    let current: BTreeMap<_, _> = contract
        .items
        .iter()
        .map(|(k, v)| (k.clone(), hash(v)))
        .collect();
    let changed: std::collections::BTreeSet<&String> = current
        .keys()
        .chain(locked.keys())
        .filter(|k| current.get(*k) != locked.get(*k))
        .collect();
    if changed.is_empty() && contract.version == locked_version {
        return Ok(());
    }
    if contract.version == locked_version {
        let names: Vec<&str> = changed.iter().map(|s| s.as_str()).collect();
        return Err(format!(
            "{} changed but the package version is still {}. Bump the version in wit/world.wit \
             (`package dpost:protocol@x.y.z;`; README.md, \"Versioning the contract\": a new \
             function or type is a minor change, a changed or removed one a breaking change), \
             add a CHANGELOG entry, then rewrite the lock: {UPDATE_VAR}=1 cargo test -p \
             dpost-tests --test wit_contract",
            names.join(", "),
            contract.version
        ));
    }
    Err(format!(
        "the package version is {} and wit/CONTRACT is for {locked_version}: rewrite the lock \
         with {UPDATE_VAR}=1 cargo test -p dpost-tests --test wit_contract",
        contract.version
    ))
}

#[test]
fn an_interface_changes_only_with_the_package_version() {
    let lock_path = wit_dir().join("CONTRACT");
    let contract = parse_contract(&wit_dir());
    let lock_text = std::fs::read_to_string(&lock_path).unwrap_or_default();
    let verdict = check(&contract, &lock_text);
    if std::env::var_os(UPDATE_VAR).is_some() {
        // Rewriting is refused only while the version stands still: that is the mistake
        // the lock is there to catch.
        let same_version = read_lock(&lock_text).0 == contract.version;
        if let Err(e) = &verdict {
            assert!(lock_text.is_empty() || !same_version, "{e}");
        }
        std::fs::write(&lock_path, render_lock(&contract)).unwrap();
        return;
    }
    assert!(
        !lock_text.is_empty(),
        "wit/CONTRACT is missing; write it with {UPDATE_VAR}=1 cargo test -p dpost-tests --test wit_contract"
    );
    verdict.unwrap_or_else(|e| panic!("{e}"));
}

/// A copy of wit/ with `edit` applied to one file, in a scratch folder.
fn edited_wit(name: &str, file: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let dir = dpost_tests::scratch_dir(&format!("wit-contract/{name}"));
    for entry in std::fs::read_dir(wit_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wit") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = match path.file_name().unwrap() == file {
                true => edit(&text),
                false => text,
            };
            std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
        }
    }
    dir
}

#[test]
fn the_lock_catches_a_change_without_a_version_bump() {
    let lock = std::fs::read_to_string(wit_dir().join("CONTRACT")).unwrap();
    let version = read_lock(&lock).0;

    // Comments and layout are not part of the contract.
    let reworded = edited_wit("comments", "keystore.wit", |t| {
        t.replace("/// Signing with", "/// Reworded.\n\n    /// Signing with")
    });
    check(&parse_contract(&reworded), &lock).unwrap();

    // A new function is, and names the interface and what to do.
    let added = edited_wit("added", "keystore.wit", |t| {
        t.replacen(
            "    sign: func(",
            "    list-keys: func() -> list<key-ref>;\n    sign: func(",
            1,
        )
    });
    let err = check(&parse_contract(&added), &lock).unwrap_err();
    assert!(err.contains("interface keystore changed"), "{err}");
    assert!(err.contains(&format!("still {version}")), "{err}");
    assert!(err.contains(UPDATE_VAR), "{err}");

    // So is a reordered variant (cases are numbered in order on the wire).
    let reordered = edited_wit("reordered", "keystore.wit", |t| {
        t.replace("unknown-key(key-ref),", "").replace(
            "failed(string),",
            "failed(string),\n        unknown-key(key-ref),",
        )
    });
    assert!(check(&parse_contract(&reordered), &lock).is_err());

    // After a bump the lock must be rewritten too.
    let bumped = edited_wit("bumped", "world.wit", |t| {
        t.replace(
            &format!("dpost:protocol@{version};"),
            "dpost:protocol@99.0.0;",
        )
    });
    let err = check(&parse_contract(&bumped), &lock).unwrap_err();
    assert!(
        err.contains("99.0.0") && err.contains("rewrite the lock"),
        "{err}"
    );
}

#[test]
fn the_description_ignores_comments_but_sees_types() {
    // The canonical description is what the lock hashes; spot-check what it holds.
    let contract = parse_contract(&wit_dir());
    let keystore = &contract.items["interface keystore"];
    assert!(
        keystore.contains(
            "func sign(key: keystore.key-ref, algorithm: keystore.signature-algorithm, data: list<u8>) -> result<list<u8>, keystore.keystore-error>"
        ),
        "{keystore}"
    );
    assert!(
        !keystore.contains("///") && !keystore.contains("host"),
        "{keystore}"
    );
    let memo = &contract.items["interface memo"];
    assert!(memo.contains("func [method]reader.feed(self: borrow<memo.reader>, chunk: list<u8>) -> result<list<memo.event>, memo.read-error>"), "{memo}");
    let world = &contract.items["world protocol"];
    assert!(
        world.contains("import interface dpost:protocol/keystore@"),
        "{world}"
    );
}
