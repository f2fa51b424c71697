//! `--name value` command-line pairs.

use std::net::SocketAddr;

pub struct Args(Vec<(String, String)>);

impl Args {
    /// Parse `--name value` pairs; a name not in `known`, or one without a value, is an error
    /// naming it.
    pub fn parse(args: &[String], known: &[&str]) -> Result<Args, String> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .filter(|n| known.contains(n))
                .ok_or_else(|| format!("unknown argument {a:?}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            out.push((name.to_owned(), value.clone()));
        }
        Ok(Args(out))
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
