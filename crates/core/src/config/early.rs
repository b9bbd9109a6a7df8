//! The settings read before, or without, the checked configuration: how to log (the log is where
//! a configuration problem is reported) and where the public CA roots come from (a function that
//! could not start still re-arms its alarm over HTTPS). Each is read from the same lookup as the
//! rest; neither can be wrong, only absent.

/// How the functions log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    /// The level, from `AWS_LAMBDA_LOG_LEVEL` (Lambda's, from the function's logging
    /// configuration), else `RUST_LOG` when it is a bare level; `None`: the default, `info`.
    pub level: Option<String>,
    /// `RUST_LOG`'s directives (`queue_scaler_io=debug,...`), applied over the level.
    pub directives: Option<String>,
    /// JSON lines (`AWS_LAMBDA_LOG_FORMAT=JSON`, in any case), else text.
    pub json: bool,
}

impl Logging {
    /// The log settings from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let directives = lookup("RUST_LOG");
        Logging {
            level: lookup("AWS_LAMBDA_LOG_LEVEL").or_else(|| directives.clone()),
            directives,
            json: lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")),
        }
    }
}

/// Whether the environment names the public CA roots (`SSL_CERT_FILE` or `SSL_CERT_DIR`), which
/// are then read from there instead of the system's bundle file.
pub fn roots_from_environment(lookup: impl Fn(&str) -> Option<String>) -> bool {
    ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| lookup(name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn lambdas_log_level_wins_over_rust_log_and_json_is_any_case() {
        let both = [
            ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ("RUST_LOG", "warn"),
            ("AWS_LAMBDA_LOG_FORMAT", "Json"),
        ];
        assert_eq!(
            Logging::from_lookup(env(&both)),
            Logging {
                level: Some("debug".into()),
                directives: Some("warn".into()),
                json: true
            }
        );
        assert_eq!(
            Logging::from_lookup(env(&[
                ("RUST_LOG", "warn"),
                ("AWS_LAMBDA_LOG_FORMAT", "Text")
            ])),
            Logging {
                level: Some("warn".into()),
                directives: Some("warn".into()),
                json: false
            }
        );
        assert_eq!(
            Logging::from_lookup(env(&[])),
            Logging {
                level: None,
                directives: None,
                json: false
            }
        );
    }

    #[test]
    fn either_ca_setting_names_the_roots() {
        assert!(roots_from_environment(env(&[("SSL_CERT_DIR", "/certs")])));
        assert!(roots_from_environment(env(&[("SSL_CERT_FILE", "/ca.pem")])));
        assert!(!roots_from_environment(env(&[("SSL_CERT", "/x")])));
    }
}
