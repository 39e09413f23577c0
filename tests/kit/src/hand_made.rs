//! Policy components made by hand, for what no plugin toolchain produces:
//! a core module written with `wasm-encoder`, wrapped by `wit-component`
//! into a component of the real `rollcall:policy` world (so the host loads
//! it like any plugin).

use wasm_encoder::{
    CodeSection, ConstExpr, ExportKind, ExportSection, Function, FunctionSection, GlobalSection,
    GlobalType, Instruction, MemorySection, MemoryType, Module, TypeSection, ValType,
};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::Resolve;

/// Where the hand-made allocator starts; the answers are read from below it.
const HEAP_START: i32 = 1024;

/// A policy whose core module declares `memories` linear memories of
/// `pages` 64 KiB pages each and, once instantiated, accepts any settings
/// and decides that there are no members (an all-zero answer). Its
/// allocator hands out memory upwards from [`HEAP_START`] and never frees.
pub fn policy_with_memories(memories: u32, pages: u64) -> Vec<u8> {
    let mut module = Module::new();

    let mut types = TypeSection::new();
    let i32s = |count| vec![ValType::I32; count];
    types.ty().function(i32s(4), i32s(1)); // cabi_realloc
    types.ty().function(i32s(2), i32s(1)); // configure(settings: string)
    types.ty().function(i32s(1), i32s(1)); // decide(question), by pointer
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

    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(HEAP_START),
    );
    module.section(&globals);

    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("cabi_realloc", ExportKind::Func, 0);
    exports.export("configure", ExportKind::Func, 1);
    exports.export("decide", ExportKind::Func, 2);
    module.section(&exports);

    let mut code = CodeSection::new();
    // cabi_realloc(old, old_size, align, new_size): the current top, which
    // then moves past the new block, rounded up to 8 bytes.
    let mut realloc = Function::new([]);
    for instruction in [
        Instruction::GlobalGet(0),
        Instruction::GlobalGet(0),
        Instruction::LocalGet(3),
        Instruction::I32Add,
        Instruction::I32Const(7),
        Instruction::I32Add,
        Instruction::I32Const(-8),
        Instruction::I32And,
        Instruction::GlobalSet(0),
        Instruction::End,
    ] {
        realloc.instruction(&instruction);
    }
    code.function(&realloc);
    // Both answers are read from address 0, which stays zero: `ok`, with
    // empty lists.
    for _ in 0..2 {
        let mut answer = Function::new([]);
        answer.instruction(&Instruction::I32Const(0));
        answer.instruction(&Instruction::End);
        code.function(&answer);
    }
    module.section(&code);

    let mut core = module.finish();
    let mut resolve = Resolve::default();
    let wit = crate::workspace().join("wit");
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
