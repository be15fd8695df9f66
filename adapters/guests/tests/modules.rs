//! Each embedded module has the shape the host accepts at load: the ABI's
//! exports with their signatures, and no import but `actr.hyper_send`.
//!
//! The sections are read here directly (a few dozen lines of the binary
//! format) rather than through a parser crate.

use std::collections::BTreeMap;

const I32: u8 = 0x7f;
const KIND_FUNC: u8 = 0x00;
const KIND_MEMORY: u8 = 0x02;

/// `(params, results)` as value type bytes.
type Signature = (Vec<u8>, Vec<u8>);

#[derive(Debug, Default)]
struct Module {
    types: Vec<Signature>,
    /// `(module, name, kind, type index for a function)`.
    imports: Vec<(String, String, u8, Option<u32>)>,
    /// Type index of each function the module defines.
    functions: Vec<u32>,
    /// Name → `(kind, index)`.
    exports: BTreeMap<String, (u8, u32)>,
}

impl Module {
    /// The signature of function `index` (imported ones come first).
    fn signature(&self, index: u32) -> Option<&Signature> {
        let imported: Vec<u32> = self.imports.iter().filter_map(|(_, _, _, ty)| *ty).collect();
        let ty = match imported.get(index as usize) {
            Some(ty) => *ty,
            None => *self.functions.get(index as usize - imported.len())?,
        };
        self.types.get(ty as usize)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.bytes.split_first().expect("truncated module");
        self.bytes = rest;
        *first
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        assert!(len <= self.bytes.len(), "truncated module");
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        head
    }

    fn leb(&mut self) -> u64 {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let byte = self.byte();
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
            assert!(shift < 64, "LEB128 too long");
        }
    }

    fn u32(&mut self) -> u32 {
        u32::try_from(self.leb()).expect("u32 out of range")
    }

    fn name(&mut self) -> String {
        let len = self.u32() as usize;
        String::from_utf8(self.take(len).to_vec()).expect("name is not UTF-8")
    }

    fn value_types(&mut self) -> Vec<u8> {
        let count = self.u32();
        (0..count).map(|_| self.byte()).collect()
    }

    fn limits(&mut self) {
        let flags = self.byte();
        self.leb();
        if flags & 1 != 0 {
            self.leb();
        }
    }
}

fn parse(bytes: &[u8]) -> Module {
    assert_eq!(&bytes[..8], b"\0asm\x01\0\0\0", "wasm magic and version 1");
    let mut module = Module::default();
    let mut reader = Reader { bytes: &bytes[8..] };
    while !reader.bytes.is_empty() {
        let id = reader.byte();
        let len = reader.u32() as usize;
        let mut section = Reader { bytes: reader.take(len) };
        match id {
            1 => {
                for _ in 0..section.u32() {
                    assert_eq!(section.byte(), 0x60, "only plain function types");
                    module.types.push((section.value_types(), section.value_types()));
                }
            }
            2 => {
                for _ in 0..section.u32() {
                    let (from, name, kind) = (section.name(), section.name(), section.byte());
                    let ty = match kind {
                        0x00 => Some(section.u32()),
                        0x01 => {
                            section.byte();
                            section.limits();
                            None
                        }
                        0x02 => {
                            section.limits();
                            None
                        }
                        0x03 => {
                            section.take(2);
                            None
                        }
                        other => panic!("import kind {other:#x}"),
                    };
                    module.imports.push((from, name, kind, ty));
                }
            }
            3 => module.functions = (0..section.u32()).map(|_| section.u32()).collect(),
            7 => {
                for _ in 0..section.u32() {
                    let (name, kind, index) = (section.name(), section.byte(), section.u32());
                    module.exports.insert(name, (kind, index));
                }
            }
            _ => {}
        }
    }
    module
}

#[test]
fn every_module_exports_the_abi_and_imports_only_hyper_send() {
    let expected: [(&str, &[u8], &[u8]); 4] = [
        ("actr_recv", &[I32, I32], &[I32]),
        ("actr_alloc", &[I32], &[I32]),
        ("actr_free", &[I32, I32], &[]),
        ("actr_abi_version", &[], &[I32]),
    ];
    for (name, bytes) in actr_guests::ALL {
        assert!(bytes.starts_with(b"\0asm"), "{name}: no wasm magic");
        let module = parse(bytes);
        let send: Signature = (vec![I32, I32], vec![I32]);
        let imports: Vec<_> = module
            .imports
            .iter()
            .map(|(from, field, kind, ty)| {
                (from.as_str(), field.as_str(), *kind, ty.and_then(|ty| module.types.get(ty as usize)))
            })
            .collect();
        assert_eq!(imports, vec![("actr", "hyper_send", KIND_FUNC, Some(&send))], "{name}: imports");
        for (export, params, results) in expected {
            let &(kind, index) = module.exports.get(export).unwrap_or_else(|| panic!("{name}: no export {export}"));
            assert_eq!(kind, KIND_FUNC, "{name}: {export} is not a function");
            let signature = module.signature(index).unwrap_or_else(|| panic!("{name}: {export} has no type"));
            assert_eq!(signature, &(params.to_vec(), results.to_vec()), "{name}: signature of {export}");
        }
        assert_eq!(module.exports.get("memory").map(|(kind, _)| *kind), Some(KIND_MEMORY), "{name}: memory export");
    }
}

#[test]
fn the_modules_are_distinct_and_small() {
    for (name, bytes) in actr_guests::ALL {
        assert!(bytes.len() < 512 * 1024, "{name} is {} bytes: is the release profile in use?", bytes.len());
    }
    let mut sizes: Vec<&[u8]> = actr_guests::ALL.iter().map(|(_, bytes)| *bytes).collect();
    sizes.dedup();
    assert_eq!(sizes.len(), 4);
}
