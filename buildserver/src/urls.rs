//! How clients reach this server's listeners, for the URLs the API and pushes hand out (an app's
//! `web_url`, its `git_url`, the end of a push). It holds no state and imports nothing of paas.

/// How clients reach this server's other listeners, for the URLs the API hands out.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    pub domain: String,
    pub ssh_port: u16,
    pub router_port: u16,
}

impl PublicUrls {
    /// Where the router serves `app`: `http://<app>.<domain>[:<router port>]/`.
    pub fn web_url(&self, app: &str) -> String {
        match self.router_port {
            80 => format!("http://{app}.{}/", self.domain),
            port => format!("http://{app}.{}:{port}/", self.domain),
        }
    }
}
