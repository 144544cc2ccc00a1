//! Ordering certificates with ACME (RFC 8555) by `instant-acme`, over the server's `reqwest`
//! client (the system's roots through rustls-platform-verifier, plus `--acme-ca-file`): one
//! account per server and directory, kept in `<data>/acme/account.json` (0600), and HTTP-01
//! challenges (RFC 8555 §8.3) answered by the router.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};

use crate::config::AcmeConfig;
use crate::router::Challenges;

/// The longest one order may take, from asking to having the certificate.
const ORDER_DEADLINE: Duration = Duration::from_secs(180);

/// The server's ACME client.
pub struct Acme {
    config: AcmeConfig,
    http: reqwest::Client,
    account_file: PathBuf,
    challenges: Challenges,
    /// Made (or read back) on the first order.
    account: tokio::sync::Mutex<Option<Account>>,
}

/// What `account.json` holds: the account, and the directory it belongs to.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

impl Acme {
    /// A client for `config`'s directory, keeping its account in `account_file`. Nothing is sent
    /// until the first order.
    ///
    /// Errors: `--acme-ca-file` cannot be read or holds no certificate.
    pub fn new(
        config: AcmeConfig,
        account_file: PathBuf,
        challenges: Challenges,
    ) -> anyhow::Result<Self> {
        crate::registry::use_ring();
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --acme-ca-file {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .with_context(|| {
                    format!("--acme-ca-file {} holds no PEM certificate", path.display())
                })?;
            http = http.tls_certs_merge(certs);
        }
        Ok(Self {
            config,
            http: http.build().context("building the ACME HTTP client")?,
            account_file,
            challenges,
            account: tokio::sync::Mutex::new(None),
        })
    }

    /// The directory URL orders go to.
    pub fn directory(&self) -> &str {
        &self.config.directory
    }

    /// Orders a certificate for `host`, proving control of it with HTTP-01 through the router;
    /// returns the PEM chain (leaf first) and the PEM private key made for it (ECDSA P-256).
    ///
    /// Errors: the directory cannot be reached, refuses the account or the order, or could not
    /// validate the challenge (the message has the ACME problem's detail); or three minutes
    /// passed.
    pub async fn order(&self, host: &str) -> anyhow::Result<(String, String)> {
        tokio::time::timeout(ORDER_DEADLINE, self.order_now(host))
            .await
            .unwrap_or_else(|_| bail!("the order took longer than {} s", ORDER_DEADLINE.as_secs()))
    }

    async fn order_now(&self, host: &str) -> anyhow::Result<(String, String)> {
        let identifiers = [Identifier::Dns(host.to_owned())];
        let new_order = NewOrder::new(&identifiers);
        let mut order = match self.account().await?.new_order(&new_order).await {
            // The server lost the account (a test server restarted, an account deactivated):
            // a new one, once.
            Err(instant_acme::Error::Api(problem))
                if problem
                    .r#type
                    .as_deref()
                    .is_some_and(|t| t.ends_with(":accountDoesNotExist")) =>
            {
                tracing::warn!(directory = %self.config.directory, "the ACME server does not know this server's account; opening a new one");
                *self.account.lock().await = None;
                let _ = std::fs::remove_file(&self.account_file);
                self.account()
                    .await?
                    .new_order(&new_order)
                    .await
                    .map_err(|e| self.failure(e, "the order"))?
            }
            other => other.map_err(|e| self.failure(e, "the order"))?,
        };
        let mut tokens = Vec::new();
        let validated = async {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization?;
                if authorization.status == AuthorizationStatus::Valid {
                    continue;
                }
                let mut challenge = authorization
                    .challenge(ChallengeType::Http01)
                    .context("the ACME server offers no http-01 challenge for it")?;
                self.challenges.insert(
                    challenge.token.clone(),
                    challenge.key_authorization().as_str().to_owned(),
                );
                tokens.push(challenge.token.clone());
                challenge.set_ready().await?;
            }
            anyhow::Ok(())
        }
        .await;
        let ready = match validated {
            Ok(()) => order
                .poll_ready(&RetryPolicy::default())
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        for token in &tokens {
            self.challenges.remove(token);
        }
        match ready? {
            OrderStatus::Ready => {}
            status => {
                let mut why = format!("the order ended {status:?}");
                let mut authorizations = order.authorizations();
                while let Some(Ok(mut authorization)) = authorizations.next().await {
                    if let Ok(state) = authorization.refresh().await
                        && let Some(problem) =
                            state.challenges.iter().find_map(|c| c.error.as_ref())
                    {
                        why = format!("the ACME server could not validate {host}: {problem}");
                    }
                }
                bail!(
                    "{why} (is {host}'s DNS pointing at this server, and port 80 reaching the router?)"
                );
            }
        }
        let key = order.finalize().await?;
        let chain = order.poll_certificate(&RetryPolicy::default()).await?;
        Ok((chain, key))
    }

    /// The server's account with the directory: the cached one, the one `account.json` keeps, or
    /// a new one (then kept there).
    async fn account(&self) -> anyhow::Result<Account> {
        let mut cached = self.account.lock().await;
        if let Some(account) = &*cached {
            return Ok(account.clone());
        }
        let saved = std::fs::read(&self.account_file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<SavedAccount>(&bytes).ok())
            .filter(|saved| saved.directory == self.config.directory);
        let account = match saved {
            Some(saved) => self
                .builder()
                .from_credentials(saved.credentials)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot reach the ACME directory {}: {e}",
                        self.config.directory
                    )
                })?,
            None => {
                let contact = self
                    .config
                    .email
                    .as_ref()
                    .map(|email| format!("mailto:{email}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let (account, credentials) = self
                    .builder()
                    .create(
                        &NewAccount {
                            contact: &contacts,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.config.directory.clone(),
                        None,
                    )
                    .await
                    .map_err(|e| self.failure(e, "a new account"))?;
                let saved = SavedAccount {
                    directory: self.config.directory.clone(),
                    credentials,
                };
                if let Some(parent) = self.account_file.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                crate::data_dir::write_atomic(
                    &self.account_file,
                    &serde_json::to_vec(&saved)?,
                    0o600,
                )
                .with_context(|| format!("cannot save {}", self.account_file.display()))?;
                account
            }
        };
        *cached = Some(account.clone());
        Ok(account)
    }

    /// What went wrong with `what`, for the user: the ACME server's problem document when it
    /// answered one, else that it could not be reached (with the cause).
    fn failure(&self, error: instant_acme::Error, what: &str) -> anyhow::Error {
        match error {
            instant_acme::Error::Api(problem) => {
                anyhow::anyhow!("the ACME server refused {what}: {problem}")
            }
            other => anyhow::anyhow!(
                "cannot reach the ACME directory {}: {other}",
                self.config.directory
            ),
        }
    }

    fn builder(&self) -> instant_acme::AccountBuilder {
        Account::builder_with_http(Box::new(Http(self.http.clone())))
    }
}

/// instant-acme's requests sent by reqwest.
struct Http(reqwest::Client);

impl instant_acme::HttpClient for Http {
    fn request(
        &self,
        request: axum::http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_else(|never| match never {});
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                // The causes too: "connection refused", "invalid peer certificate: UnknownIssuer".
                .map_err(|e| {
                    instant_acme::Error::Other(Box::new(std::io::Error::other(format!(
                        "{:#}",
                        anyhow::Error::new(e)
                    ))))
                })?;
            Ok(BytesResponse::from(
                axum::http::Response::<reqwest::Body>::from(response),
            ))
        })
    }
}
