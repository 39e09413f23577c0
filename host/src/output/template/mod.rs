//! Templates: the membership document in a consumer's own form, written by
//! minijinja in strict mode (`--format template:FILE`, a file sink's
//! `format = "template"`, and the bundled formats, which are templates
//! too).
//!
//! A template is checked when it is loaded, before it writes anything:
//! it must parse, every name it reads must be one the document or the
//! engine gives (whichever branch reads it), and it must render the
//! sample membership ([`sample`]) without error, so that a misspelt
//! `m.adress` is found at load too. Every failure names the template and
//! its line. A render is bounded: in fuel (steps and bytes made, in
//! proportion to the fleet), in output bytes, and in recursion (see
//! `settings::ranges`, "Templates").

mod context;
mod filters;
mod sample;

use crate::membership::Membership;
use crate::settings::ranges::{
    TEMPLATE_FUEL_BASE, TEMPLATE_FUEL_PER_MEMBER, TEMPLATE_OUTPUT_BASE, TEMPLATE_OUTPUT_PER_MEMBER,
    TEMPLATE_RECURSION,
};
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use std::io::Write;

/// A template, parsed and checked, ready to render answers.
pub struct Template {
    /// What errors name it by: its file's path, or `format NAME`.
    name: String,
    environment: Environment<'static>,
}

/// Why a template cannot be used, or could not render an answer: where
/// (its name and line, when known) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}:{}{message}", line.map(|line| format!("{line}: ")).unwrap_or_else(|| " ".to_owned()))]
pub struct TemplateError {
    /// The template's file, or `format NAME` for a bundled one.
    pub name: String,
    /// The line, when the engine knows it.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `text` and checks it (see the module's doc); `name` is what
    /// errors call it.
    pub fn load(name: &str, text: &str) -> Result<Template, TemplateError> {
        let mut environment = environment().map_err(|err| located(name, &err))?;
        environment
            .add_template_owned(name.to_owned(), text.to_owned())
            .map_err(|err| located(name, &err))?;
        let template = Template {
            name: name.to_owned(),
            environment,
        };
        template.check_names(text)?;
        template.render(&sample::membership())?;
        Ok(template)
    }

    /// Every name the template reads from outside itself must be one the
    /// document or the engine gives; found by minijinja's analysis of the
    /// whole template, every branch, and placed at its first use.
    fn check_names(&self, text: &str) -> Result<(), TemplateError> {
        let template = self
            .environment
            .get_template(&self.name)
            .map_err(|err| located(&self.name, &err))?;
        let mut unknown: Vec<(usize, String)> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| {
                !context::NAMES.contains(&name.as_str())
                    && !self.environment.globals().any(|(global, _)| global == name)
            })
            .map(|name| (first_use(text, &name), name))
            .collect();
        unknown.sort();
        match unknown.into_iter().next() {
            None => Ok(()),
            Some((line, name)) => Err(TemplateError {
                name: self.name.clone(),
                line: Some(line),
                message: format!(
                    "`{name}` is not in the membership document; a template reads {}",
                    context::NAMES.join(", ")
                ),
            }),
        }
    }

    /// The answer written by the template: within its fuel, output and
    /// recursion limits, or an error saying which it overran.
    pub fn render(&self, membership: &Membership) -> Result<String, TemplateError> {
        let members = u64::try_from(membership.members.len()).unwrap_or(u64::MAX);
        let fuel = TEMPLATE_FUEL_PER_MEMBER
            .saturating_mul(members)
            .saturating_add(TEMPLATE_FUEL_BASE);
        let cap = TEMPLATE_OUTPUT_PER_MEMBER
            .saturating_mul(members)
            .saturating_add(TEMPLATE_OUTPUT_BASE);
        let mut environment = self.environment.clone();
        environment.set_fuel(Some(fuel));
        let template = environment
            .get_template(&self.name)
            .map_err(|err| located(&self.name, &err))?;
        let mut output = CappedOutput {
            bytes: Vec::new(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            overran: false,
        };
        let rendered = template.render_captured_to(context::of(membership), &mut output);
        if output.overran {
            return Err(TemplateError {
                name: self.name.clone(),
                line: None,
                message: format!(
                    "the output grew past {cap} bytes, the most a template may write for {members} members"
                ),
            });
        }
        match rendered {
            Ok(_) => String::from_utf8(output.bytes).map_err(|_| TemplateError {
                name: self.name.clone(),
                line: None,
                message: "the output is not UTF-8".to_owned(),
            }),
            Err(err) if err.kind() == ErrorKind::OutOfFuel => {
                let mut error = located(&self.name, &err);
                error.message = format!(
                    "the template did more work than {fuel} fuel (steps and 64-byte pieces of data) allows for {members} members"
                );
                Err(error)
            }
            Err(err) => Err(located(&self.name, &err)),
        }
    }
}

/// The engine every template runs in: strict about undefined values, no
/// escaping (the formats escape what they must themselves), blocks that
/// leave no blank lines behind, and the trailing newline kept.
fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_auto_escape_callback(|_| AutoEscape::None);
    environment.set_recursion_limit(TEMPLATE_RECURSION);
    environment.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    filters::register(&mut environment);
    Ok(environment)
}

/// minijinja's error as this template's, at its line.
fn located(name: &str, err: &minijinja::Error) -> TemplateError {
    let message = match err.detail() {
        Some(detail) => format!("{}: {detail}", kind_text(err.kind())),
        None => kind_text(err.kind()).to_owned(),
    };
    TemplateError {
        name: name.to_owned(),
        line: err.line(),
        message,
    }
}

/// What went wrong, in words (minijinja's own, for the common kinds).
fn kind_text(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::SyntaxError => "syntax error",
        ErrorKind::UndefinedError => "undefined value",
        ErrorKind::UnknownFilter => "unknown filter",
        ErrorKind::UnknownTest => "unknown test",
        ErrorKind::UnknownFunction => "unknown function",
        ErrorKind::UnknownMethod => "unknown method",
        ErrorKind::MissingArgument => "missing argument",
        ErrorKind::TooManyArguments => "too many arguments",
        ErrorKind::InvalidOperation => "invalid operation",
        ErrorKind::BadEscape => "bad string escape",
        ErrorKind::NonKey => "not a key",
        ErrorKind::NonPrimitive => "not a primitive value",
        ErrorKind::OutOfFuel => "out of fuel",
        _ => "cannot render",
    }
}

/// The line where `name` is first read in `text`: the first place it
/// stands as a whole word inside `{{ }}` or `{% %}`, outside a string and
/// not after a dot. Line 1 if none is found (the analysis found it, so this
/// is a guess at worst).
fn first_use(text: &str, name: &str) -> usize {
    let mut line = 1;
    let mut in_code = false;
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut chars = text.char_indices().peekable();
    while let Some((at, character)) = chars.next() {
        let next = chars.peek().map_or(' ', |(_, next)| *next);
        match character {
            '\n' => line += 1,
            '{' if !in_code && (next == '{' || next == '%') => in_code = true,
            '}' | '%' if in_code && quote.is_none() && next == '}' => in_code = false,
            '"' | '\'' if in_code => match quote {
                None => quote = Some(character),
                Some(open) if open == character => quote = None,
                Some(_) => {}
            },
            _ if in_code
                && quote.is_none()
                && text[at..].starts_with(name)
                && !is_word(previous)
                && previous != '.'
                && !text[at + name.len()..].starts_with(is_word) =>
            {
                return line;
            }
            _ => {}
        }
        previous = character;
    }
    1
}

fn is_word(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}

/// The render's output, refused past `cap` bytes.
struct CappedOutput {
    bytes: Vec<u8>,
    cap: usize,
    overran: bool,
}

impl Write for CappedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(bytes.len()) > self.cap {
            self.overran = true;
            return Err(std::io::Error::other("the output is over its cap"));
        }
        self.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
