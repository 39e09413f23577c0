//! A valid component for a world that is not rollcall's: it imports
//! `example:foreign/vault`, which rollcall does not provide, and exports
//! `run` instead of `configure` and `decide`. The host must refuse to load
//! it, naming the import.

wit_bindgen::generate!({
    inline: r#"
        package example:foreign@0.1.0;

        /// A secret store rollcall knows nothing about.
        interface vault {
            /// The secret stored under `key`.
            get: func(key: string) -> string;
        }

        world foreign {
            import vault;

            /// Reads one secret.
            export run: func() -> string;
        }
    "#,
});

struct Foreign;

impl Guest for Foreign {
    fn run() -> String {
        example::foreign::vault::get("x")
    }
}

export!(Foreign);
