//! Enrollments and admin tokens in the SQL stores: one table each, a JSON
//! document per row, and the SQL both dialects agree on (numbered
//! parameters bind by position in SQLite too, and both have
//! `ON CONFLICT ... DO UPDATE`).

use mdmkit_core::TenantId;

use crate::access::AdminToken;
use crate::challenge::{Challenge, IssuedCertificate};
use crate::error::Error;
use crate::inventory::Enrollment;

/// The tables: migration 3 of the SQLite store and 2 of the PostgreSQL
/// store (released: never edit, add a migration). A certificate is bound
/// to at most one device of a tenant (NULLs, no certificate, never clash).
pub(crate) const TABLES: &str = "
CREATE TABLE IF NOT EXISTS mdmkit_enrollment (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    cert_sha256 TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant, device)
);
CREATE UNIQUE INDEX IF NOT EXISTS mdmkit_enrollment_cert
    ON mdmkit_enrollment (tenant, cert_sha256) WHERE cert_sha256 IS NOT NULL;
CREATE TABLE IF NOT EXISTS mdmkit_admin_token (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
";

/// Migration 4 of the SQLite store and 3 of the PostgreSQL store:
/// enrollment challenges (the columns a spend tests atomically beside the
/// document) and the certificates enrollment issued (by expiry, for
/// renewal).
pub(crate) const ENROLLMENT_TABLES: &str = "
CREATE TABLE IF NOT EXISTS mdmkit_challenge (
    tenant TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    reusable INTEGER NOT NULL,
    used_at BIGINT,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant, sha256)
);
CREATE TABLE IF NOT EXISTS mdmkit_issued_cert (
    tenant TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    not_after BIGINT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant, sha256)
);
CREATE INDEX IF NOT EXISTS mdmkit_issued_cert_expiry ON mdmkit_issued_cert (tenant, not_after);
";

/// Migration 5 of the SQLite store and 4 of the PostgreSQL store: device
/// management sessions (OMA-DM) kept between requests, with a version for
/// compare-and-set writes.
pub(crate) const SESSION_TABLES: &str = "
CREATE TABLE IF NOT EXISTS mdmkit_device_session (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (tenant, device)
);
";
/// Migration 6 of the SQLite store and 5 of the PostgreSQL store: the
/// push certificate of each tenant (its alert in a column of its own, so
/// recording one never rewrites the certificate) and per-device push
/// state.
pub(crate) const PUSH_TABLES: &str = "
CREATE TABLE IF NOT EXISTS mdmkit_push_cert (
    tenant TEXT NOT NULL PRIMARY KEY,
    sha256 TEXT NOT NULL,
    doc TEXT NOT NULL,
    alert TEXT
);
CREATE TABLE IF NOT EXISTS mdmkit_push_state (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant, device)
);
";
pub(crate) const PUSH_CERT: &str = "SELECT doc, alert FROM mdmkit_push_cert WHERE tenant = $1";
pub(crate) const PUT_PUSH_CERT: &str = "INSERT INTO mdmkit_push_cert (tenant, sha256, doc, alert) \
     VALUES ($1, $2, $3, NULL) ON CONFLICT (tenant) \
     DO UPDATE SET sha256 = excluded.sha256, doc = excluded.doc, alert = NULL";
pub(crate) const PUSH_ALERT: &str =
    "UPDATE mdmkit_push_cert SET alert = $3 WHERE tenant = $1 AND sha256 = $2";
pub(crate) const PUSH_STATES: &str =
    "SELECT doc FROM mdmkit_push_state WHERE tenant = $1 ORDER BY device";
pub(crate) const PUT_PUSH_STATE: &str = "INSERT INTO mdmkit_push_state (tenant, device, doc) \
     VALUES ($1, $2, $3) ON CONFLICT (tenant, device) DO UPDATE SET doc = excluded.doc";

pub(crate) const SESSION: &str = "SELECT version, updated_at, state FROM mdmkit_device_session \
     WHERE tenant = $1 AND device = $2";
pub(crate) const INSERT_SESSION: &str = "INSERT INTO mdmkit_device_session \
     (tenant, device, version, updated_at, state) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (tenant, device) DO NOTHING";
pub(crate) const UPDATE_SESSION: &str = "UPDATE mdmkit_device_session \
     SET version = $3, updated_at = $4, state = $5 \
     WHERE tenant = $1 AND device = $2 AND version = $6";

pub(crate) const PUT_CHALLENGE: &str = "INSERT INTO mdmkit_challenge \
     (tenant, sha256, expires_at, reusable, used_at, doc) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (tenant, sha256) DO UPDATE SET expires_at = excluded.expires_at, \
     reusable = excluded.reusable, used_at = excluded.used_at, doc = excluded.doc";
/// Spends a challenge if it is still usable, in one statement (two
/// processes never both spend a one-time challenge).
pub(crate) const SPEND_CHALLENGE: &str = "UPDATE mdmkit_challenge SET used_at = $3 \
     WHERE tenant = $1 AND sha256 = $2 AND expires_at > $3 AND (used_at IS NULL OR reusable = 1) \
     RETURNING doc";
pub(crate) const CHALLENGE: &str =
    "SELECT doc, used_at FROM mdmkit_challenge WHERE tenant = $1 AND sha256 = $2";
pub(crate) const CHALLENGES: &str =
    "SELECT doc, used_at FROM mdmkit_challenge WHERE tenant = $1 ORDER BY sha256";
pub(crate) const PUT_ISSUED: &str = "INSERT INTO mdmkit_issued_cert (tenant, sha256, not_after, doc) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, sha256) \
     DO UPDATE SET not_after = excluded.not_after, doc = excluded.doc";
pub(crate) const ISSUED: &str =
    "SELECT doc FROM mdmkit_issued_cert WHERE tenant = $1 AND sha256 = $2";
pub(crate) const EXPIRING: &str = "SELECT doc FROM mdmkit_issued_cert \
     WHERE tenant = $1 AND not_after < $2 ORDER BY not_after, sha256";

pub(crate) const ENROLLMENT: &str =
    "SELECT doc FROM mdmkit_enrollment WHERE tenant = $1 AND device = $2";
pub(crate) const ENROLLMENTS: &str =
    "SELECT doc FROM mdmkit_enrollment WHERE tenant = $1 ORDER BY device";
pub(crate) const ENROLLMENT_BY_CERT: &str =
    "SELECT doc FROM mdmkit_enrollment WHERE tenant = $1 AND cert_sha256 = $2";
pub(crate) const ENROLLMENT_HOLDER: &str =
    "SELECT device FROM mdmkit_enrollment WHERE tenant = $1 AND cert_sha256 = $2 AND device <> $3";
pub(crate) const PUT_ENROLLMENT: &str = "INSERT INTO mdmkit_enrollment (tenant, device, cert_sha256, doc, node) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, device) \
     DO UPDATE SET cert_sha256 = excluded.cert_sha256, doc = excluded.doc, node = excluded.node";

/// The migration that gives each enrollment row its node as a column
/// (9 of the SQLite store, 8 of the PostgreSQL store), indexed, so a
/// console's query about one node reads that node's enrollments only. The
/// rows already there take the node from their document, in each
/// dialect's JSON syntax (the only difference between the two).
macro_rules! enrollment_node {
    ($node_of_doc:literal) => {
        concat!(
            "ALTER TABLE mdmkit_enrollment ADD COLUMN node TEXT;\n",
            "UPDATE mdmkit_enrollment SET node = ",
            $node_of_doc,
            ";\n",
            "CREATE INDEX mdmkit_enrollment_by_node ON mdmkit_enrollment (tenant, node);\n",
        )
    };
}
#[cfg(feature = "sqlite")]
pub(crate) const ENROLLMENT_NODE_SQLITE: &str = enrollment_node!("json_extract(doc, '$.node')");
#[cfg(feature = "postgres")]
pub(crate) const ENROLLMENT_NODE_POSTGRES: &str = enrollment_node!("doc::jsonb ->> 'node'");
/// Each device's worst category state as a severity rank (decoded by
/// `state_of_severity`: 0 unsupported, 1 verified, 2 sent, 3 pending, 4
/// failed): one row per device instead of one per category.
/// The migration that gives device records their node and overall
/// compliance (7 of the SQLite store, 6 of the PostgreSQL store): the
/// columns, their values for the rows already there (the node is learnt at
/// the next reconcile, which rewrites a record whose node differs), and the
/// index per-node counts are read from.
pub(crate) const NODE_COLUMNS: &str = "
ALTER TABLE mdmkit_device ADD COLUMN node TEXT;
ALTER TABLE mdmkit_device ADD COLUMN overall INTEGER;
UPDATE mdmkit_device SET overall = s.severity FROM (
    SELECT tenant, device, MAX(CASE state WHEN 'failed' THEN 4 WHEN 'pending' THEN 3
        WHEN 'sent' THEN 2 WHEN 'verified' THEN 1 ELSE 0 END) AS severity
    FROM mdmkit_compliance GROUP BY tenant, device
) AS s WHERE s.tenant = mdmkit_device.tenant AND s.device = mdmkit_device.device;
CREATE INDEX mdmkit_device_node ON mdmkit_device (tenant, node, platform, overall);
";

/// The migration that keeps the audit journal's head beside the state (8
/// of the SQLite store, 7 of the PostgreSQL store): one row per tenant,
/// the highest head a commit carried and the highest signed one.
pub(crate) const AUDIT_HEAD_TABLE: &str = "
CREATE TABLE mdmkit_audit_head (
    tenant TEXT NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    signed_seq BIGINT,
    signed TEXT
);
";

/// Records a head: a row only moves forward (several writers may commit
/// heads out of order), the signed head likewise.
pub(crate) const PUT_AUDIT_HEAD: &str = "INSERT INTO mdmkit_audit_head \
     (tenant, seq, hash, signed_seq, signed) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (tenant) DO UPDATE SET \
     hash = CASE WHEN excluded.seq > mdmkit_audit_head.seq \
         THEN excluded.hash ELSE mdmkit_audit_head.hash END, \
     seq = CASE WHEN excluded.seq > mdmkit_audit_head.seq \
         THEN excluded.seq ELSE mdmkit_audit_head.seq END, \
     signed = CASE WHEN excluded.signed_seq > COALESCE(mdmkit_audit_head.signed_seq, -1) \
         THEN excluded.signed ELSE mdmkit_audit_head.signed END, \
     signed_seq = CASE WHEN excluded.signed_seq > COALESCE(mdmkit_audit_head.signed_seq, -1) \
         THEN excluded.signed_seq ELSE mdmkit_audit_head.signed_seq END";

/// A tenant's recorded journal heads.
pub(crate) const AUDIT_HEAD: &str =
    "SELECT seq, hash, signed FROM mdmkit_audit_head WHERE tenant = $1";

/// The bound values of [`PUT_AUDIT_HEAD`] after `tenant`.
pub(crate) fn audit_head_values(
    heads: &super::AuditHeads,
) -> Result<(i64, String, Option<i64>, Option<String>), Error> {
    let seq =
        |n: u64| i64::try_from(n).map_err(|_| Error::InvalidInput(format!("journal sequence {n}")));
    let signed = match &heads.signed {
        Some(h) => Some((
            seq(h.seq)?,
            h.to_json()
                .map_err(|e| Error::InvalidInput(format!("signed head: {e}")))?,
        )),
        None => None,
    };
    Ok((
        seq(heads.head.seq)?,
        heads.head.hash.clone(),
        signed.as_ref().map(|s| s.0),
        signed.map(|s| s.1),
    ))
}

/// A device's overall compliance from its category rows (`c`): the
/// severity rank of its worst state (see `state_of_severity`), NULL
/// without rows.
pub(crate) const OVERALL_OF_ROWS: &str = "MAX(CASE c.state WHEN 'failed' THEN 4 \
     WHEN 'pending' THEN 3 WHEN 'sent' THEN 2 WHEN 'verified' THEN 1 ELSE 0 END)";

/// Per-node counts, from the index of migration [`NODE_COLUMNS`] alone.
pub(crate) const NODE_COUNTS: &str = "SELECT node, platform, CAST(overall AS BIGINT) AS overall, \
     CAST(COUNT(*) AS BIGINT) AS n FROM mdmkit_device WHERE tenant = $1 AND node IS NOT NULL \
     GROUP BY node, platform, overall ORDER BY node, platform, overall";

/// The rows of [`NODE_COUNTS`], typed.
pub(crate) fn node_counts(
    rows: Vec<(String, String, Option<i64>, i64)>,
) -> Result<Vec<super::NodeCount>, Error> {
    let mut out = rows
        .into_iter()
        .map(|(node, platform, overall, n)| {
            Ok(super::NodeCount::new(
                mdmkit_policy::NodeId::new(node)
                    .map_err(|e| Error::corrupt("stored node id", e))?,
                std::str::FromStr::from_str(&platform)
                    .map_err(|e| Error::corrupt("stored platform", e))?,
                overall.map(super::state_of_severity).transpose()?,
                u64::try_from(n).unwrap_or(0),
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    // In the typed order (the database's collation may differ).
    out.sort_by(|a, b| (&a.node, a.platform, a.state).cmp(&(&b.node, b.platform, b.state)));
    Ok(out)
}

/// A device record row (`device, platform, content, inventory, node`),
/// typed.
pub(crate) fn device_record(
    (device, platform, content, inventory, node): (String, String, String, String, Option<String>),
) -> Result<(mdmkit_core::DeviceId, super::DeviceRecord), Error> {
    let device =
        mdmkit_core::DeviceId::new(device).map_err(|e| Error::corrupt("stored device id", e))?;
    let platform =
        std::str::FromStr::from_str(&platform).map_err(|e| Error::corrupt("stored platform", e))?;
    let mut record = super::DeviceRecord::new(
        platform,
        super::parse_hash(&content)?,
        super::parse_hash(&inventory)?,
    );
    if let Some(node) = node {
        record = record.with_node(
            mdmkit_policy::NodeId::new(node).map_err(|e| Error::corrupt("stored node id", e))?,
        );
    }
    Ok((device, record))
}

pub(crate) const DEVICE_STATES: &str = "SELECT device, CAST(MAX(CASE state WHEN 'failed' THEN 4 \
     WHEN 'pending' THEN 3 WHEN 'sent' THEN 2 WHEN 'verified' THEN 1 ELSE 0 END) AS BIGINT) AS severity \
     FROM mdmkit_compliance WHERE tenant = $1 GROUP BY device";

/// The rows of [`DEVICE_STATES`], typed.
pub(crate) fn device_states(
    rows: Vec<(String, i64)>,
) -> Result<Vec<(mdmkit_core::DeviceId, super::ComplianceState)>, Error> {
    let mut out = rows
        .into_iter()
        .map(|(d, rank)| {
            let d =
                mdmkit_core::DeviceId::new(d).map_err(|e| Error::corrupt("stored device id", e))?;
            Ok((d, super::state_of_severity(rank)?))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

pub(crate) const TOKEN: &str = "SELECT doc FROM mdmkit_admin_token WHERE tenant = $1 AND id = $2";
pub(crate) const TOKENS: &str = "SELECT doc FROM mdmkit_admin_token WHERE tenant = $1 ORDER BY id";
pub(crate) const PUT_TOKEN: &str = "INSERT INTO mdmkit_admin_token (tenant, id, doc) VALUES ($1, $2, $3) \
     ON CONFLICT (tenant, id) DO UPDATE SET doc = excluded.doc";

/// Decodes a stored enrollment of `tenant`.
pub(crate) fn enrollment(doc: &str) -> Result<Enrollment, Error> {
    serde_json::from_str(doc).map_err(|e| Error::corrupt("enrollment", e))
}

/// Decodes a stored token, checking it belongs to `tenant`.
pub(crate) fn token(tenant: &TenantId, doc: &str) -> Result<AdminToken, Error> {
    let t: AdminToken = serde_json::from_str(doc).map_err(|e| Error::corrupt("admin token", e))?;
    if &t.tenant != tenant {
        return Err(Error::Corrupt {
            what: format!(
                "admin token {} (of tenant {}, stored under {tenant})",
                t.id, t.tenant
            ),
            source: None,
        });
    }
    Ok(t)
}

/// Decodes a stored challenge of `tenant`; `used_at` is the column's (the
/// document keeps the time it was written).
pub(crate) fn challenge(
    tenant: &TenantId,
    doc: &str,
    used_at: Option<i64>,
) -> Result<Challenge, Error> {
    let mut c: Challenge = serde_json::from_str(doc).map_err(|e| Error::corrupt("challenge", e))?;
    if &c.tenant != tenant {
        return Err(Error::Corrupt {
            what: format!(
                "challenge {} (of tenant {}, stored under {tenant})",
                c.id, c.tenant
            ),
            source: None,
        });
    }
    c.used_at = used_at.map(mdmkit_queue::Timestamp::from_millis);
    Ok(c)
}

/// Decodes a stored issued-certificate record.
pub(crate) fn issued(doc: &str) -> Result<IssuedCertificate, Error> {
    serde_json::from_str(doc).map_err(|e| Error::corrupt("issued certificate", e))
}

/// Decodes a stored push certificate and its alert column.
pub(crate) fn push_cert(
    doc: &str,
    alert: Option<&str>,
) -> Result<crate::push::StoredPushCertificate, Error> {
    let mut c: crate::push::StoredPushCertificate =
        serde_json::from_str(doc).map_err(|e| Error::corrupt("push certificate", e))?;
    c.alert = alert
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| Error::corrupt("push alert", e))?;
    Ok(c)
}

/// Decodes a stored push state.
pub(crate) fn push_state(doc: &str) -> Result<crate::push::PushState, Error> {
    serde_json::from_str(doc).map_err(|e| Error::corrupt("push state", e))
}

/// Encodes a record.
pub(crate) fn doc<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Store {
        doing: "encode a record",
        source: Box::new(e),
    })
}

/// Now, in milliseconds since the epoch (the time a migration is recorded).
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The record methods of a SQL store, written once for both dialects:
/// `$store` has a `pool` field of its driver's pool type, and `$sql` maps
/// an `sqlx::Error` to [`Error`]. The trait impls delegate to these.
macro_rules! record_methods {
    ($store:ty, $sql:path) => {
        impl $store {
            async fn read_audit_heads(
                &self,
                tenant: &TenantId,
            ) -> Result<Option<super::AuditHeads>, Error> {
                let row: Option<(i64, String, Option<String>)> =
                    sqlx::query_as(super::records::AUDIT_HEAD)
                        .bind(tenant.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($sql)?;
                let Some((seq, hash, signed)) = row else {
                    return Ok(None);
                };
                let seq = u64::try_from(seq).map_err(|_| Error::Corrupt {
                    what: format!("audit head of {tenant}: sequence {seq}"),
                    source: None,
                })?;
                let signed = match signed {
                    Some(text) => Some(
                        crate::audit::SignedHead::from_json(text.as_bytes()).map_err(|e| {
                            Error::corrupt(format!("signed audit head of {tenant}"), e)
                        })?,
                    ),
                    None => None,
                };
                Ok(Some(super::AuditHeads {
                    head: crate::audit::JournalHead::new(seq, hash),
                    signed,
                }))
            }

            async fn docs(
                &self,
                q: &'static str,
                a: &str,
                b: Option<&str>,
            ) -> Result<Vec<String>, Error> {
                let mut query = sqlx::query_scalar::<_, String>(q).bind(a.to_owned());
                if let Some(b) = b {
                    query = query.bind(b.to_owned());
                }
                query.fetch_all(&self.pool).await.map_err($sql)
            }

            async fn get_enrollment(
                &self,
                tenant: &TenantId,
                device: &DeviceId,
            ) -> Result<Option<Enrollment>, Error> {
                self.docs(records::ENROLLMENT, tenant.as_str(), Some(device.as_str()))
                    .await?
                    .first()
                    .map(|d| records::enrollment(d))
                    .transpose()
            }

            async fn all_enrollments(&self, tenant: &TenantId) -> Result<Vec<Enrollment>, Error> {
                let mut all = self
                    .docs(records::ENROLLMENTS, tenant.as_str(), None)
                    .await?
                    .iter()
                    .map(|d| records::enrollment(d))
                    .collect::<Result<Vec<_>, Error>>()?;
                // By id as Rust orders it (a PostgreSQL collation may not).
                all.sort_by(|a, b| a.device.cmp(&b.device));
                Ok(all)
            }

            async fn enrollment_of_certificate(
                &self,
                tenant: &TenantId,
                sha256: &str,
            ) -> Result<Option<Enrollment>, Error> {
                self.docs(records::ENROLLMENT_BY_CERT, tenant.as_str(), Some(sha256))
                    .await?
                    .first()
                    .map(|d| records::enrollment(d))
                    .transpose()
            }

            async fn write_enrollment(
                &self,
                tenant: &TenantId,
                e: &Enrollment,
            ) -> Result<(), Error> {
                let cert = e.certificate.as_ref().map(|c| c.sha256.clone());
                let holder = || async {
                    match &cert {
                        None => Ok(None),
                        Some(c) => sqlx::query_scalar::<_, String>(records::ENROLLMENT_HOLDER)
                            .bind(tenant.as_str().to_owned())
                            .bind(c.clone())
                            .bind(e.device.as_str().to_owned())
                            .fetch_optional(&self.pool)
                            .await
                            .map_err($sql),
                    }
                };
                if let Some(device) = holder().await? {
                    return Err(Error::CertificateInUse { device });
                }
                let r = sqlx::query(records::PUT_ENROLLMENT)
                    .bind(tenant.as_str().to_owned())
                    .bind(e.device.as_str().to_owned())
                    .bind(cert.clone())
                    .bind(records::doc(e)?)
                    .bind(e.node.as_str().to_owned())
                    .execute(&self.pool)
                    .await;
                match r {
                    Ok(_) => Ok(()),
                    // Another writer bound the certificate in between.
                    Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                        Err(Error::CertificateInUse {
                            device: holder().await?.unwrap_or_default(),
                        })
                    }
                    Err(other) => Err($sql(other)),
                }
            }

            async fn write_token(&self, t: &AdminToken) -> Result<(), Error> {
                sqlx::query(records::PUT_TOKEN)
                    .bind(t.tenant.as_str().to_owned())
                    .bind(t.id.clone())
                    .bind(records::doc(t)?)
                    .execute(&self.pool)
                    .await
                    .map_err($sql)?;
                Ok(())
            }

            async fn get_token(
                &self,
                tenant: &TenantId,
                id: &str,
            ) -> Result<Option<AdminToken>, Error> {
                self.docs(records::TOKEN, tenant.as_str(), Some(id))
                    .await?
                    .first()
                    .map(|d| records::token(tenant, d))
                    .transpose()
            }

            async fn write_challenge(&self, c: &crate::challenge::Challenge) -> Result<(), Error> {
                sqlx::query(records::PUT_CHALLENGE)
                    .bind(c.tenant.as_str().to_owned())
                    .bind(c.sha256.clone())
                    .bind(c.expires_at.as_millis())
                    .bind(i64::from(c.reusable))
                    .bind(c.used_at.map(mdmkit_queue::Timestamp::as_millis))
                    .bind(records::doc(c)?)
                    .execute(&self.pool)
                    .await
                    .map_err($sql)?;
                Ok(())
            }

            async fn spend(
                &self,
                tenant: &TenantId,
                sha256: &str,
                now: mdmkit_queue::Timestamp,
            ) -> Result<Result<crate::challenge::Challenge, crate::challenge::Refusal>, Error> {
                use crate::challenge::Refusal;
                let spent = sqlx::query_scalar::<_, String>(records::SPEND_CHALLENGE)
                    .bind(tenant.as_str().to_owned())
                    .bind(sha256.to_owned())
                    .bind(now.as_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($sql)?;
                if let Some(doc) = spent {
                    return records::challenge(tenant, &doc, Some(now.as_millis())).map(Ok);
                }
                let row = sqlx::query_as::<_, (String, Option<i64>)>(records::CHALLENGE)
                    .bind(tenant.as_str().to_owned())
                    .bind(sha256.to_owned())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($sql)?;
                Ok(Err(match row {
                    None => Refusal::Unknown,
                    Some((doc, used)) => {
                        let c = records::challenge(tenant, &doc, used)?;
                        c.usable(now).err().unwrap_or(Refusal::Used)
                    }
                }))
            }

            async fn all_challenges(
                &self,
                tenant: &TenantId,
            ) -> Result<Vec<crate::challenge::Challenge>, Error> {
                let rows = sqlx::query_as::<_, (String, Option<i64>)>(records::CHALLENGES)
                    .bind(tenant.as_str().to_owned())
                    .fetch_all(&self.pool)
                    .await
                    .map_err($sql)?;
                let mut all = rows
                    .iter()
                    .map(|(doc, used)| records::challenge(tenant, doc, *used))
                    .collect::<Result<Vec<_>, Error>>()?;
                all.sort_by(|a, b| a.sha256.cmp(&b.sha256));
                Ok(all)
            }

            async fn write_issued(
                &self,
                c: &crate::challenge::IssuedCertificate,
            ) -> Result<(), Error> {
                sqlx::query(records::PUT_ISSUED)
                    .bind(c.tenant.as_str().to_owned())
                    .bind(c.sha256.clone())
                    .bind(c.not_after.as_millis())
                    .bind(records::doc(c)?)
                    .execute(&self.pool)
                    .await
                    .map_err($sql)?;
                Ok(())
            }

            async fn get_issued(
                &self,
                tenant: &TenantId,
                sha256: &str,
            ) -> Result<Option<crate::challenge::IssuedCertificate>, Error> {
                self.docs(records::ISSUED, tenant.as_str(), Some(sha256))
                    .await?
                    .first()
                    .map(|d| records::issued(d))
                    .transpose()
            }

            async fn expiring_before(
                &self,
                tenant: &TenantId,
                before: mdmkit_queue::Timestamp,
            ) -> Result<Vec<crate::challenge::IssuedCertificate>, Error> {
                sqlx::query_scalar::<_, String>(records::EXPIRING)
                    .bind(tenant.as_str().to_owned())
                    .bind(before.as_millis())
                    .fetch_all(&self.pool)
                    .await
                    .map_err($sql)?
                    .iter()
                    .map(|d| records::issued(d))
                    .collect()
            }

            async fn get_challenge(
                &self,
                tenant: &TenantId,
                sha256: &str,
            ) -> Result<Option<crate::challenge::Challenge>, Error> {
                sqlx::query_as::<_, (String, Option<i64>)>(records::CHALLENGE)
                    .bind(tenant.as_str().to_owned())
                    .bind(sha256.to_owned())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($sql)?
                    .map(|(doc, used)| records::challenge(tenant, &doc, used))
                    .transpose()
            }

            async fn get_session(
                &self,
                tenant: &TenantId,
                device: &DeviceId,
            ) -> Result<Option<super::DeviceSession>, Error> {
                Ok(sqlx::query_as::<_, (i64, i64, String)>(records::SESSION)
                    .bind(tenant.as_str().to_owned())
                    .bind(device.as_str().to_owned())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($sql)?
                    .map(|(version, at, state)| {
                        super::DeviceSession::new(
                            device.clone(),
                            version,
                            mdmkit_queue::Timestamp::from_millis(at),
                            state,
                        )
                    }))
            }

            async fn write_session(
                &self,
                tenant: &TenantId,
                s: &super::DeviceSession,
                expected: Option<i64>,
            ) -> Result<bool, Error> {
                let q = match expected {
                    None => sqlx::query(records::INSERT_SESSION),
                    Some(_) => sqlx::query(records::UPDATE_SESSION),
                };
                let mut q = q
                    .bind(tenant.as_str().to_owned())
                    .bind(s.device.as_str().to_owned())
                    .bind(s.version)
                    .bind(s.updated_at.as_millis())
                    .bind(s.state.clone());
                if let Some(v) = expected {
                    q = q.bind(v);
                }
                let done = q.execute(&self.pool).await.map_err($sql)?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_push_cert(
                &self,
                tenant: &TenantId,
            ) -> Result<Option<crate::push::StoredPushCertificate>, Error> {
                sqlx::query_as::<_, (String, Option<String>)>(records::PUSH_CERT)
                    .bind(tenant.as_str().to_owned())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($sql)?
                    .map(|(doc, alert)| records::push_cert(&doc, alert.as_deref()))
                    .transpose()
            }

            async fn write_push_cert(
                &self,
                tenant: &TenantId,
                c: &crate::push::StoredPushCertificate,
            ) -> Result<(), Error> {
                sqlx::query(records::PUT_PUSH_CERT)
                    .bind(tenant.as_str().to_owned())
                    .bind(c.sha256.clone())
                    .bind(records::doc(c)?)
                    .execute(&self.pool)
                    .await
                    .map_err($sql)?;
                Ok(())
            }

            async fn write_push_alert(
                &self,
                tenant: &TenantId,
                sha256: &str,
                alert: Option<&crate::push::PushAlert>,
            ) -> Result<(), Error> {
                let alert = alert.map(records::doc).transpose()?;
                sqlx::query(records::PUSH_ALERT)
                    .bind(tenant.as_str().to_owned())
                    .bind(sha256.to_owned())
                    .bind(alert)
                    .execute(&self.pool)
                    .await
                    .map_err($sql)?;
                Ok(())
            }

            async fn all_push_states(
                &self,
                tenant: &TenantId,
            ) -> Result<Vec<crate::push::PushState>, Error> {
                let mut all = self
                    .docs(records::PUSH_STATES, tenant.as_str(), None)
                    .await?
                    .iter()
                    .map(|d| records::push_state(d))
                    .collect::<Result<Vec<_>, Error>>()?;
                all.sort_by(|a, b| a.device.cmp(&b.device));
                Ok(all)
            }

            async fn write_push_states(
                &self,
                tenant: &TenantId,
                states: &[crate::push::PushState],
            ) -> Result<(), Error> {
                if states.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err($sql)?;
                for s in states {
                    sqlx::query(records::PUT_PUSH_STATE)
                        .bind(tenant.as_str().to_owned())
                        .bind(s.device.as_str().to_owned())
                        .bind(records::doc(s)?)
                        .execute(&mut *tx)
                        .await
                        .map_err($sql)?;
                }
                tx.commit().await.map_err($sql)
            }

            async fn all_tokens(&self, tenant: &TenantId) -> Result<Vec<AdminToken>, Error> {
                let mut all = self
                    .docs(records::TOKENS, tenant.as_str(), None)
                    .await?
                    .iter()
                    .map(|d| records::token(tenant, d))
                    .collect::<Result<Vec<_>, Error>>()?;
                all.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(all)
            }
        }
    };
}
pub(crate) use record_methods;
