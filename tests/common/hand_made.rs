//! Policy components made by hand, for what no plugin toolchain produces:
//! a core module written with `wasm-encoder`, wrapped by `wit-component`
//! into a component of the real `rollcall:policy` world (so the host loads
//! it like any plugin).

use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction, MemorySection,
    MemoryType, Module, TypeSection, ValType,
};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::Resolve;

/// A policy whose core module declares `memories` linear memories of
/// `pages` 64 KiB pages each and, once instantiated, accepts any settings
/// and decides that there are no members (an all-zero answer).
pub fn policy_with_memories(memories: u32, pages: u64) -> Vec<u8> {
    let mut module = Module::new();

    let mut types = TypeSection::new();
    let i32s = |count| vec![ValType::I32; count];
    types.ty().function(i32s(4), i32s(1)); // cabi_realloc
    types.ty().function(i32s(2), i32s(1)); // configure(settings: string)
    types.ty().function(i32s(5), i32s(1)); // decide(inventory)
    module.section(&types);

    let mut functions = FunctionSection::new();
    for ty in 0..3 {
        functions.function(ty);
    }
    module.section(&functions);

    let mut section = MemorySection::new();
    for _ in 0..memories {
        section.memory(MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    module.section(&section);

    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("cabi_realloc", ExportKind::Func, 0);
    exports.export("configure", ExportKind::Func, 1);
    exports.export("decide", ExportKind::Func, 2);
    module.section(&exports);

    // The host copies its arguments to one place past the first page; both
    // answers are read from address 0, which stays zero: `ok`, with empty
    // lists.
    let mut code = CodeSection::new();
    for answer in [65_536, 0, 0] {
        let mut body = Function::new([]);
        body.instruction(&Instruction::I32Const(answer));
        body.instruction(&Instruction::End);
        code.function(&body);
    }
    module.section(&code);

    let mut core = module.finish();
    let mut resolve = Resolve::default();
    let wit = super::workspace().join("wit");
    let (package, _) = resolve.push_dir(&wit).expect("wit/ parses");
    let world = resolve
        .select_world(&[package], Some("policy"))
        .expect("the policy world");
    embed_component_metadata(&mut core, &resolve, world, StringEncoding::UTF8)
        .expect("metadata embeds");
    ComponentEncoder::default()
        .module(&core)
        .expect("the core module is accepted")
        .validate(true)
        .encode()
        .expect("the component encodes")
}
