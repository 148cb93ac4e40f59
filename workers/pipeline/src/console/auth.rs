//! Staff log-in: Argon2id password hashes from the configuration, sessions in signed cookies
//! (any console instance with the same `console.session_secret` accepts them), a form token
//! against cross-site requests, and a pause after repeated wrong passwords.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use photocheck_config::ConsoleSection;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "pc_session";

/// Least length in bytes of `console.session_secret`.
pub const MIN_SESSION_SECRET: usize = 32;

/// Wrong passwords in a row after which a log-in name is paused.
const MAX_FAILURES: u32 = 5;
/// How long the pause lasts.
const PAUSE: Duration = Duration::from_secs(300);

/// What a member of staff may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reviews photos.
    Reviewer,
    /// Reviews, reads the statistics, re-queues and discards set-aside messages.
    Supervisor,
    /// Reads the statistics and the operations page.
    Operator,
}

impl Role {
    /// Parses the configuration's role name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "reviewer" => Some(Role::Reviewer),
            "supervisor" => Some(Role::Supervisor),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// The configuration's name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
        }
    }

    /// The role's Chinese name, shown beside the user.
    pub fn label(self) -> &'static str {
        match self {
            Role::Reviewer => "审核员",
            Role::Supervisor => "主管",
            Role::Operator => "运维",
        }
    }

    /// May take photos from the review queue and decide them.
    pub fn reviews(self) -> bool {
        matches!(self, Role::Reviewer | Role::Supervisor)
    }

    /// May read the statistics and export them.
    pub fn reads_statistics(self) -> bool {
        matches!(self, Role::Supervisor | Role::Operator)
    }

    /// May read the operations page.
    pub fn reads_operations(self) -> bool {
        matches!(self, Role::Supervisor | Role::Operator)
    }

    /// May re-queue and discard dead-lettered and parked messages.
    pub fn acts_on_queues(self) -> bool {
        self == Role::Supervisor
    }
}

/// A logged-in member of staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Log-in name.
    pub user: String,
    /// Role at log-in time.
    pub role: Role,
    /// Unix seconds when the session ends.
    pub expires: u64,
    /// The cookie value, from which the form token is derived.
    pub token: String,
}

/// The Argon2id hash (PHC string) of `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Fills `buf` from the operating system's CSPRNG (through rustls's crypto provider).
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(buf)
        .map_err(|_| "no secure random numbers".to_owned())
}

/// Whether `password` matches the PHC `hash` (false for a malformed hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Log-in checks and session cookies for one console.
pub struct Auth {
    section: ConsoleSection,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// A hash to verify against for unknown names, so they take as long as known ones.
    decoy: String,
}

/// Why a log-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown name or wrong password (never told apart).
    Wrong,
    /// Too many wrong passwords: try again later.
    Paused,
}

impl Auth {
    /// Checks the section: a session secret of at least [`MIN_SESSION_SECRET`] bytes.
    pub fn new(section: &ConsoleSection) -> Result<Auth, crate::PipelineError> {
        if section.session_secret.len() < MIN_SESSION_SECRET {
            return Err(crate::PipelineError::Config(format!(
                "console.session_secret must be at least {MIN_SESSION_SECRET} bytes"
            )));
        }
        Ok(Auth {
            section: section.clone(),
            failures: Mutex::new(HashMap::new()),
            decoy: hash_password("decoy password that matches nothing").unwrap_or_default(),
        })
    }

    /// Checks a name and password; on success, the new session's cookie value.
    pub fn log_in(&self, user: &str, password: &str, now: u64) -> Result<Session, Refusal> {
        {
            let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((n, since)) = failures.get(user) {
                if *n >= MAX_FAILURES && since.elapsed() < PAUSE {
                    return Err(Refusal::Paused);
                }
            }
        }
        let entry = self.section.users.get(user);
        let hash = entry.map_or(self.decoy.as_str(), |u| u.password_hash.as_str());
        let ok = verify_password(hash, password) && entry.is_some();
        let role = entry.and_then(|u| Role::parse(&u.role));
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match (ok, role) {
            (true, Some(role)) => {
                failures.remove(user);
                Ok(self.issue(user, role, now))
            }
            _ => {
                let slot = failures
                    .entry(user.to_owned())
                    .or_insert((0, Instant::now()));
                if slot.1.elapsed() >= PAUSE {
                    *slot = (0, Instant::now());
                }
                slot.0 += 1;
                slot.1 = Instant::now();
                Err(Refusal::Wrong)
            }
        }
    }

    fn mac(&self, payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.section.session_secret.as_bytes())
            .expect("HMAC accepts any key length");
        mac.update(b"console-session.");
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A session for `user` (already checked) from `now`.
    pub fn issue(&self, user: &str, role: Role, now: u64) -> Session {
        let expires = now + (self.section.session_hours.max(0.01) * 3600.0) as u64;
        let payload = hex::encode(format!("{user}\n{}\n{expires}", role.as_str()));
        let token = format!("{payload}.{}", self.mac(&payload));
        Session {
            user: user.to_owned(),
            role,
            expires,
            token,
        }
    }

    /// The session a cookie value stands for: signed by this centre, not expired, and its user
    /// still configured with the same role (removing a user ends their sessions).
    pub fn session(&self, token: &str, now: u64) -> Option<Session> {
        let (payload, tag) = token.split_once('.')?;
        let expected = self.mac(payload);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            tag.as_bytes(),
        )) {
            return None;
        }
        let text = String::from_utf8(hex::decode(payload).ok()?).ok()?;
        let mut parts = text.split('\n');
        let user = parts.next()?.to_owned();
        let role = Role::parse(parts.next()?)?;
        let expires: u64 = parts.next()?.parse().ok()?;
        if expires <= now {
            return None;
        }
        let configured = self.section.users.get(&user)?;
        if Role::parse(&configured.role)? != role {
            return None;
        }
        Some(Session {
            user,
            role,
            expires,
            token: token.to_owned(),
        })
    }

    /// The token every form of this session carries (checked on each POST): a cross-site page
    /// cannot read it, so it cannot forge a decision.
    pub fn form_token(&self, session: &Session) -> String {
        self.mac(&format!("form.{}", session.token))[..32].to_owned()
    }

    /// Whether `presented` is this session's form token.
    pub fn form_token_ok(&self, session: &Session, presented: &str) -> bool {
        let expected = self.form_token(session);
        bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            presented.as_bytes(),
        ))
    }

    /// The `Set-Cookie` value for a session (`Secure` when the console serves HTTPS).
    pub fn cookie(&self, session: &Session, secure: bool) -> String {
        let max_age = (self.section.session_hours.max(0.01) * 3600.0) as u64;
        format!(
            "{COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
            session.token,
            if secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that ends a session in the browser.
    pub fn cleared_cookie(secure: bool) -> String {
        format!(
            "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
            if secure { "; Secure" } else { "" }
        )
    }
}

/// The session cookie's value in a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use photocheck_config::ConsoleUser;

    fn section() -> ConsoleSection {
        let mut s = ConsoleSection {
            session_secret: "s".repeat(40),
            ..ConsoleSection::default()
        };
        s.users.insert(
            "li".into(),
            ConsoleUser {
                role: "reviewer".into(),
                password_hash: hash_password("correct horse").unwrap(),
            },
        );
        s
    }

    #[test]
    fn a_password_logs_in_and_the_cookie_names_the_session() {
        let auth = Auth::new(&section()).unwrap();
        let s = auth.log_in("li", "correct horse", 1_000).unwrap();
        assert_eq!((s.user.as_str(), s.role), ("li", Role::Reviewer));
        let back = auth.session(&s.token, 1_001).unwrap();
        assert_eq!(back, s);
        let header = format!("a=b; {}", auth.cookie(&s, true).split(';').next().unwrap());
        assert_eq!(cookie_value(&header), Some(s.token.as_str()));
        assert!(auth
            .cookie(&s, true)
            .contains("HttpOnly; SameSite=Strict; Secure"));
        // Expired, tampered, or signed by another centre: no session.
        assert!(auth.session(&s.token, s.expires).is_none());
        let mut forged = s.token.clone();
        forged.replace_range(0..2, "00");
        assert!(auth.session(&forged, 1_001).is_none());
        let other = Auth::new(&ConsoleSection {
            session_secret: "t".repeat(40),
            ..section()
        })
        .unwrap();
        assert!(other.session(&s.token, 1_001).is_none());
        // A forged role fails the signature: a reviewer cannot make itself a supervisor.
        let payload = hex::encode(format!("li\nsupervisor\n{}", s.expires));
        let tag = s.token.split_once('.').unwrap().1;
        assert!(auth.session(&format!("{payload}.{tag}"), 1_001).is_none());
    }

    #[test]
    fn wrong_passwords_are_refused_and_pause_the_name() {
        let auth = Auth::new(&section()).unwrap();
        assert_eq!(auth.log_in("li", "wrong", 1).unwrap_err(), Refusal::Wrong);
        assert_eq!(auth.log_in("nobody", "x", 1).unwrap_err(), Refusal::Wrong);
        for _ in 1..MAX_FAILURES {
            assert_eq!(auth.log_in("li", "wrong", 1).unwrap_err(), Refusal::Wrong);
        }
        // Now even the right password waits out the pause.
        assert_eq!(
            auth.log_in("li", "correct horse", 1).unwrap_err(),
            Refusal::Paused
        );
    }

    #[test]
    fn a_removed_user_or_a_short_secret_ends_sessions() {
        let auth = Auth::new(&section()).unwrap();
        let s = auth.issue("li", Role::Reviewer, 10);
        let mut without = section();
        without.users.clear();
        let auth2 = Auth {
            section: ConsoleSection {
                session_secret: section().session_secret,
                ..without
            },
            failures: Mutex::new(HashMap::new()),
            decoy: String::new(),
        };
        assert!(auth2.session(&s.token, 11).is_none());
        assert!(Auth::new(&ConsoleSection {
            session_secret: "short".into(),
            ..section()
        })
        .is_err());
        assert!(auth.form_token_ok(&s, &auth.form_token(&s)));
        assert!(!auth.form_token_ok(&s, "0123"));
    }

    #[test]
    fn roles_grant_what_the_issue_says() {
        assert!(Role::Reviewer.reviews() && !Role::Reviewer.reads_statistics());
        assert!(Role::Supervisor.acts_on_queues() && Role::Supervisor.reviews());
        assert!(Role::Operator.reads_operations() && !Role::Operator.acts_on_queues());
        assert!(!Role::Operator.reviews());
        assert_eq!(Role::parse("admin"), None);
    }
}
