//! `--name value` command-line pairs.

use std::net::SocketAddr;

pub struct Args(Vec<(String, String)>);

impl Args {
    /// Parse `--name value` pairs; a name not in `known`, or one without a value, is an error
    /// naming it.
    pub fn parse(args: &[String], known: &[&str]) -> Result<Args, String> {
        Args::parse_with_flags(args, known, &[])
    }

    /// [`Args::parse`] where the names in `flags` take no value (see [`Args::flag`]).
    pub fn parse_with_flags(
        args: &[String],
        known: &[&str],
        flags: &[&str],
    ) -> Result<Args, String> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .filter(|n| known.contains(n) || flags.contains(n))
                .ok_or_else(|| format!("unknown argument {a:?}"))?;
            if flags.contains(&name) {
                out.push((name.to_owned(), String::new()));
                continue;
            }
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            out.push((name.to_owned(), value.clone()));
        }
        Ok(Args(out))
    }

    /// True when the flag `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// The last value given for `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    pub fn addr(&self, name: &str) -> Result<Option<SocketAddr>, String> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|e| format!("--{name} {v:?}: {e} (ADDR:PORT, e.g. 127.0.0.1:7071)"))
            })
            .transpose()
    }

    pub fn number(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|e| format!("--{name} {v:?}: {e} (a whole number)"))
            })
            .transpose()
    }
}
