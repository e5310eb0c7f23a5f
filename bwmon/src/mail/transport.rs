//! The configured way out: SMTP, the local sendmail, or the log.
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{
    AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    transport::smtp::AsyncSmtpTransportBuilder,
};

use super::{Mail, MailError, Mailer};
use crate::config::{EmailConfig, EmailTransport, SmtpTls};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The transport `email.transport` names.
#[derive(Debug)]
pub enum Transport {
    /// A new connection per message; the password file is read at each send, so a changed
    /// password is used without a restart.
    Smtp(Smtp),
    /// `sendmail_command -i -f FROM -- TO...`, the message on its standard input.
    Sendmail {
        command: PathBuf,
        transport: AsyncSendmailTransport<Tokio1Executor>,
    },
    /// Only writes the message to the log (`tracing`, level info).
    Log,
}

/// SMTP settings.
#[derive(Clone, Debug)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// A private CA trusted besides the system's (PEM).
    pub ca_file: Option<PathBuf>,
}

impl Transport {
    /// The transport of the `[email]` table.
    pub fn from_config(email: &EmailConfig) -> Result<Transport, MailError> {
        Ok(match email.transport {
            EmailTransport::Smtp => Transport::Smtp(Smtp {
                host: email.smtp_host.clone().ok_or(MailError::NoSmtpHost)?,
                port: email.smtp_port,
                tls: email.smtp_tls,
                user: email.smtp_user.clone(),
                password_file: email.smtp_password_file.clone(),
                ca_file: email.smtp_ca_file.clone(),
            }),
            EmailTransport::Sendmail => Transport::Sendmail {
                command: email.sendmail_command.clone(),
                transport: AsyncSendmailTransport::new_with_command(&email.sendmail_command),
            },
            EmailTransport::Log => Transport::Log,
        })
    }
}

impl Smtp {
    fn builder(&self) -> Result<AsyncSmtpTransportBuilder, MailError> {
        let smtp = |source| MailError::Smtp {
            host: self.host.clone(),
            port: self.port,
            source,
        };
        let builder = match (self.tls, &self.ca_file) {
            (SmtpTls::None, _) => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            }
            (SmtpTls::Starttls, None) => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host).map_err(smtp)?
            }
            (SmtpTls::Tls, None) => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host).map_err(smtp)?
            }
            (tls, Some(ca_file)) => {
                let pem = std::fs::read(ca_file).map_err(|source| MailError::CaFile {
                    path: ca_file.clone(),
                    source,
                })?;
                let params = TlsParameters::builder(self.host.clone())
                    .add_root_certificate(Certificate::from_pem(&pem).map_err(smtp)?)
                    .build()
                    .map_err(smtp)?;
                let tls = if tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host).tls(tls)
            }
        };
        let builder = builder.port(self.port).timeout(Some(SMTP_TIMEOUT));
        Ok(match (&self.user, &self.password_file) {
            (Some(user), Some(path)) => {
                let password =
                    std::fs::read_to_string(path).map_err(|source| MailError::PasswordFile {
                        path: path.clone(),
                        source,
                    })?;
                let password = password.trim_end_matches(['\r', '\n']).to_owned();
                builder.credentials(Credentials::new(user.clone(), password))
            }
            _ => builder,
        })
    }

    async fn send(&self, message: lettre::Message) -> Result<(), MailError> {
        let transport = self.builder()?.build();
        transport
            .send(message)
            .await
            .map(drop)
            .map_err(|source| MailError::Smtp {
                host: self.host.clone(),
                port: self.port,
                source,
            })
    }
}

impl Mailer for Transport {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        if let Transport::Log = self {
            // Addresses are checked as for a real send, but a notice without recipients is still
            // logged: on a node without mail the log is the record.
            match mail.to_message(SystemTime::now()) {
                Ok(_) | Err(MailError::NoRecipients { .. }) => {}
                Err(error) => return Err(error),
            }
            tracing::info!(
                slice = %mail.slice,
                from = %mail.from,
                to = %mail.to.join(", "),
                subject = %mail.subject,
                body = %mail.body,
                "e-mail (transport = \"log\", not sent)"
            );
            return Ok(());
        }
        let message = mail.to_message(SystemTime::now())?;
        let sent =
            match self {
                Transport::Smtp(smtp) => smtp.send(message).await,
                Transport::Sendmail { command, transport } => transport
                    .send(message)
                    .await
                    .map_err(|source| MailError::Sendmail {
                        command: command.clone(),
                        source,
                    }),
                Transport::Log => Ok(()),
            };
        if sent.is_ok() {
            let via = match self {
                Transport::Smtp(smtp) => format!("SMTP {}:{}", smtp.host, smtp.port),
                Transport::Sendmail { command, .. } => command.display().to_string(),
                Transport::Log => "the log".to_owned(),
            };
            tracing::info!(slice = %mail.slice, to = %mail.to.join(", "), %via, "e-mail sent");
        }
        sent
    }
}
