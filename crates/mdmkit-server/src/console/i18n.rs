//! The console's two languages: every visible string, in English and in
//! French, picked from the `lang` cookie (set by the switch), else the
//! browser's `Accept-Language`.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

/// The cookie that remembers the language chosen with the switch.
pub(crate) const LANG_COOKIE: &str = "mdmkit_console_lang";

impl Lang {
    /// The BCP 47 tag (`en`, `fr`).
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    /// A tag read from a query or a cookie.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }

    /// The other language (the switch's target).
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Fr,
            Self::Fr => Self::En,
        }
    }

    /// The language of a request: the cookie, else the first of
    /// `Accept-Language` (by quality) that the console speaks, else English.
    pub fn of(headers: &HeaderMap) -> Self {
        if let Some(l) = cookie(headers, LANG_COOKIE).and_then(|v| Self::parse(&v)) {
            return l;
        }
        let Some(accept) = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Self::En;
        };
        let mut best: Option<(f32, Self)> = None;
        for item in accept.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or_default();
            if let Some(l) = Self::parse(primary)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map_or(Self::En, |(_, l)| l)
    }

    /// The strings of this language.
    pub(crate) fn text(self) -> &'static Text {
        match self {
            Self::En => &EN,
            Self::Fr => &FR,
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Every string the console shows.
#[derive(Debug)]
pub(crate) struct Text {
    pub(crate) console: &'static str,
    pub(crate) sign_in: &'static str,
    pub(crate) sign_in_intro: &'static str,
    pub(crate) tenant: &'static str,
    pub(crate) token: &'static str,
    pub(crate) token_help: &'static str,
    pub(crate) sign_in_failed: &'static str,
    pub(crate) sign_out: &'static str,
    pub(crate) switch_to: &'static str,
    pub(crate) signed_in_as: &'static str,
    pub(crate) role: &'static str,
    pub(crate) tree: &'static str,
    pub(crate) all: &'static str,
    pub(crate) not_compliant: &'static str,
    pub(crate) show: &'static str,
    pub(crate) node: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) devices: &'static str,
    pub(crate) compliance: &'static str,
    pub(crate) verified: &'static str,
    pub(crate) pending: &'static str,
    pub(crate) failed: &'static str,
    pub(crate) unsupported: &'static str,
    pub(crate) unplanned: &'static str,
    pub(crate) sent: &'static str,
    pub(crate) device: &'static str,
    pub(crate) platform: &'static str,
    pub(crate) state: &'static str,
    pub(crate) too_many_devices: &'static str,
    pub(crate) no_devices: &'static str,
    pub(crate) activity: &'static str,
    pub(crate) reconcile_node: &'static str,
    pub(crate) reconcile_done: &'static str,
    pub(crate) facts: &'static str,
    pub(crate) model: &'static str,
    pub(crate) os_version: &'static str,
    pub(crate) serial: &'static str,
    pub(crate) name: &'static str,
    pub(crate) supervised: &'static str,
    pub(crate) yes: &'static str,
    pub(crate) no: &'static str,
    pub(crate) unknown: &'static str,
    pub(crate) enrollment: &'static str,
    pub(crate) not_enrolled: &'static str,
    pub(crate) status: &'static str,
    pub(crate) enrolled_at: &'static str,
    pub(crate) last_check_in: &'static str,
    pub(crate) certificate_until: &'static str,
    pub(crate) by_category: &'static str,
    pub(crate) category: &'static str,
    pub(crate) error: &'static str,
    pub(crate) attempts: &'static str,
    pub(crate) updated: &'static str,
    pub(crate) not_enforced: &'static str,
    pub(crate) effective_policy: &'static str,
    pub(crate) setting: &'static str,
    pub(crate) value: &'static str,
    pub(crate) set_by: &'static str,
    pub(crate) policy: &'static str,
    pub(crate) at: &'static str,
    pub(crate) locked_by: &'static str,
    pub(crate) not_locked: &'static str,
    pub(crate) commands: &'static str,
    pub(crate) command: &'static str,
    pub(crate) queued_at: &'static str,
    pub(crate) no_commands: &'static str,
    pub(crate) actions: &'static str,
    pub(crate) lock: &'static str,
    pub(crate) lock_message: &'static str,
    pub(crate) restart: &'static str,
    pub(crate) resend: &'static str,
    pub(crate) refresh: &'static str,
    pub(crate) erase: &'static str,
    pub(crate) erase_warning: &'static str,
    pub(crate) erase_confirm: &'static str,
    pub(crate) erase_mismatch: &'static str,
    pub(crate) apple_only: &'static str,
    pub(crate) read_only: &'static str,
    pub(crate) queued: &'static str,
    pub(crate) when: &'static str,
    pub(crate) event: &'static str,
    pub(crate) who: &'static str,
    pub(crate) what: &'static str,
    pub(crate) no_activity: &'static str,
    pub(crate) not_found: &'static str,
    pub(crate) forbidden: &'static str,
    pub(crate) bad_request: &'static str,
    pub(crate) server_error: &'static str,
    pub(crate) csrf_refused: &'static str,
    pub(crate) back: &'static str,
    pub(crate) skip: &'static str,
}

static EN: Text = Text {
    console: "mdmkit console",
    sign_in: "Sign in",
    sign_in_intro: "Sign in with an admin token. You will see the part of the fleet it is bound to.",
    tenant: "Tenant",
    token: "Admin token",
    token_help: "Starts with mdmkit_; given by whoever administers the level above you.",
    sign_in_failed: "This tenant and token do not open a session.",
    sign_out: "Sign out",
    switch_to: "Français",
    signed_in_as: "Signed in at",
    role: "role",
    tree: "Fleet",
    all: "All",
    not_compliant: "Not compliant",
    show: "Show",
    node: "Node",
    kind: "Kind",
    devices: "Devices",
    compliance: "Compliance",
    verified: "verified",
    pending: "pending",
    failed: "failed",
    unsupported: "unsupported",
    unplanned: "not planned",
    sent: "sent",
    device: "Device",
    platform: "Platform",
    state: "State",
    too_many_devices: "Too many devices to list here: open a node below.",
    no_devices: "No device.",
    activity: "Activity",
    reconcile_node: "Reconcile this node",
    reconcile_done: "Reconciled",
    facts: "Facts",
    model: "Model",
    os_version: "OS version",
    serial: "Serial number",
    name: "Name",
    supervised: "Supervised",
    yes: "yes",
    no: "no",
    unknown: "unknown",
    enrollment: "Enrollment",
    not_enrolled: "Not enrolled through this server.",
    status: "Status",
    enrolled_at: "Enrolled",
    last_check_in: "Last check-in",
    certificate_until: "Certificate valid until",
    by_category: "Compliance by category",
    category: "Category",
    error: "Device's error",
    attempts: "Attempts",
    updated: "Updated",
    not_enforced: "Not enforced here",
    effective_policy: "Effective policy",
    setting: "Setting",
    value: "Value",
    set_by: "Set by",
    policy: "policy",
    at: "at",
    locked_by: "Locked by",
    not_locked: "—",
    commands: "Commands",
    command: "Command",
    queued_at: "Queued",
    no_commands: "No command.",
    actions: "Actions",
    lock: "Lock",
    lock_message: "Message on the lock screen (optional)",
    restart: "Restart",
    resend: "Send its policy again",
    refresh: "Refresh device information",
    erase: "Erase",
    erase_warning: "Erasing removes every app and file from the device. It cannot be undone.",
    erase_confirm: "Type the device id to confirm",
    erase_mismatch: "The device id typed does not match: nothing was erased.",
    apple_only: "Commands are offered for Apple devices only; its policy can be sent again.",
    read_only: "This token may read only: actions need the operate role.",
    queued: "Queued",
    when: "When",
    event: "Event",
    who: "By",
    what: "About",
    no_activity: "Nothing recorded yet.",
    not_found: "Not found.",
    forbidden: "Not allowed with this token.",
    bad_request: "This request cannot be carried out.",
    server_error: "The server failed. Quote this id to your operator:",
    csrf_refused: "This form is stale or did not come from the console: nothing was done.",
    back: "Back to the fleet",
    skip: "Skip to content",
};

static FR: Text = Text {
    console: "Console mdmkit",
    sign_in: "Se connecter",
    sign_in_intro: "Connectez-vous avec un jeton d'administration : vous verrez la partie du parc à laquelle il est rattaché.",
    tenant: "Locataire",
    token: "Jeton d'administration",
    token_help: "Commence par mdmkit_ ; fourni par l'administrateur du niveau au-dessus du vôtre.",
    sign_in_failed: "Ce locataire et ce jeton n'ouvrent pas de session.",
    sign_out: "Se déconnecter",
    switch_to: "English",
    signed_in_as: "Connecté à",
    role: "rôle",
    tree: "Parc",
    all: "Tous",
    not_compliant: "Non conformes",
    show: "Afficher",
    node: "Nœud",
    kind: "Type",
    devices: "Appareils",
    compliance: "Conformité",
    verified: "vérifié",
    pending: "en attente",
    failed: "en échec",
    unsupported: "non pris en charge",
    unplanned: "non planifié",
    sent: "envoyé",
    device: "Appareil",
    platform: "Plateforme",
    state: "État",
    too_many_devices: "Trop d'appareils pour les lister ici : ouvrez un nœud ci-dessous.",
    no_devices: "Aucun appareil.",
    activity: "Activité",
    reconcile_node: "Réconcilier ce nœud",
    reconcile_done: "Réconcilié",
    facts: "Caractéristiques",
    model: "Modèle",
    os_version: "Version du système",
    serial: "Numéro de série",
    name: "Nom",
    supervised: "Supervisé",
    yes: "oui",
    no: "non",
    unknown: "inconnu",
    enrollment: "Inscription",
    not_enrolled: "Non inscrit par ce serveur.",
    status: "Statut",
    enrolled_at: "Inscrit le",
    last_check_in: "Dernier contact",
    certificate_until: "Certificat valable jusqu'au",
    by_category: "Conformité par catégorie",
    category: "Catégorie",
    error: "Erreur de l'appareil",
    attempts: "Tentatives",
    updated: "Mis à jour",
    not_enforced: "Non appliqué ici",
    effective_policy: "Politique effective",
    setting: "Réglage",
    value: "Valeur",
    set_by: "Fixé par",
    policy: "politique",
    at: "à",
    locked_by: "Verrouillé par",
    not_locked: "—",
    commands: "Commandes",
    command: "Commande",
    queued_at: "Mise en file",
    no_commands: "Aucune commande.",
    actions: "Actions",
    lock: "Verrouiller",
    lock_message: "Message sur l'écran verrouillé (facultatif)",
    restart: "Redémarrer",
    resend: "Renvoyer sa politique",
    refresh: "Rafraîchir les informations",
    erase: "Effacer",
    erase_warning: "L'effacement supprime toutes les applications et tous les fichiers de l'appareil. C'est irréversible.",
    erase_confirm: "Saisissez l'identifiant de l'appareil pour confirmer",
    erase_mismatch: "L'identifiant saisi ne correspond pas : rien n'a été effacé.",
    apple_only: "Les commandes ne sont proposées que pour les appareils Apple ; sa politique peut être renvoyée.",
    read_only: "Ce jeton ne permet que la lecture : les actions demandent le rôle operate.",
    queued: "Mis en file",
    when: "Quand",
    event: "Événement",
    who: "Par",
    what: "Sur",
    no_activity: "Rien d'enregistré pour l'instant.",
    not_found: "Introuvable.",
    forbidden: "Non autorisé avec ce jeton.",
    bad_request: "Cette demande ne peut pas être exécutée.",
    server_error: "Le serveur a échoué. Communiquez cet identifiant à votre opérateur :",
    csrf_refused: "Ce formulaire est périmé ou ne vient pas de la console : rien n'a été fait.",
    back: "Retour au parc",
    skip: "Aller au contenu",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: axum::http::HeaderName, v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn the_browser_picks_unless_the_switch_did() {
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::En);
        assert_eq!(
            Lang::of(&with(ACCEPT_LANGUAGE, "fr-FR,fr;q=0.9,en;q=0.8")),
            Lang::Fr
        );
        assert_eq!(
            Lang::of(&with(ACCEPT_LANGUAGE, "de,en;q=0.5,fr;q=0.7")),
            Lang::Fr
        );
        assert_eq!(Lang::of(&with(ACCEPT_LANGUAGE, "de")), Lang::En);
        assert_eq!(
            Lang::of(&with(COOKIE, "a=b; mdmkit_console_lang=fr")),
            Lang::Fr
        );
    }
}
