//! Field messages in Spanish (the seed's default), English and Portuguese.
//! `error_key`s never change with the language; only these texts do.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header::ACCEPT_LANGUAGE, FromRequest, HttpRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    Es,
    En,
    Pt,
}

impl Locale {
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Locale::Es),
            "en" => Some(Locale::En),
            "pt" => Some(Locale::Pt),
            _ => None,
        }
    }

    /// The best supported language of an `Accept-Language` header, by quality.
    pub fn negotiate(header: &str) -> Option<Locale> {
        let mut candidates: Vec<(f32, Locale)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let locale = Locale::parse(pieces.next()?)?;
                let quality = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                Some((quality, locale))
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        candidates.first().map(|(_, locale)| *locale)
    }

    pub fn of_request(req: &HttpRequest) -> Locale {
        req.headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(Locale::negotiate)
            .or_else(|| req.app_data::<DefaultLocale>().map(|d| d.0))
            .unwrap_or_default()
    }
}

/// The language used when a request names none (`RELEVO_LOCALE`).
#[derive(Clone, Copy)]
pub struct DefaultLocale(pub Locale);

impl FromRequest for Locale {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Locale::of_request(req)))
    }
}

/// A reason a field was rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Required,
    NotString,
    NotInteger,
    NotNumber,
    NotBoolean,
    PhoneFormat,
    PhoneTaken,
    InstanceNameFormat,
    InstanceNameTaken,
    DailyLimitMin,
    DailyLimitMax,
    MaxLength(usize),
    MinLength(usize),
    Between(i64, i64),
    Min(f64),
    OneOf(&'static [&'static str]),
    Url,
    Timezone,
    SlugFormat,
    SlugTaken,
    Email,
    EmailTaken,
    WeakPassword,
    Prohibited,
    TenantMissing,
    CurrencyFormat,
    NotArray,
    NotObject,
    UnknownEvent(String),
    EvolutionServerMissing,
    EvolutionServerUnusable,
    BaseUrlTaken,
    ApiKeyFormat,
    DateTime,
    AfterOrEqual(&'static str),
    NulCharacter,
    UrlCredentials,
    MaxDecimals(u32),
    /// The key is needed again: the URL field named here moves to another origin.
    ApiKeyForNewHost(&'static str),
    NotOnWhatsApp,
    /// A URL on a loopback, private, link-local or otherwise non-public address.
    PrivateTarget,
    /// Not a time of day written `HH:MM` (00:00 to 23:59).
    ClockTime,
    /// A window whose end is its start: it would hold no time at all.
    EmptyWindow,
}

impl Msg {
    pub fn render(&self, field: &str, locale: Locale) -> String {
        use Locale::*;
        use Msg::*;
        match (self, locale) {
            (Required, Es) => format!("El campo {field} es obligatorio."),
            (Required, En) => format!("The {field} field is required."),
            (Required, Pt) => format!("O campo {field} é obrigatório."),
            (NotString, Es) => format!("El campo {field} debe ser una cadena de texto."),
            (NotString, En) => format!("The {field} field must be a string."),
            (NotString, Pt) => format!("O campo {field} deve ser um texto."),
            (NotInteger, Es) => format!("El campo {field} debe ser un número entero."),
            (NotInteger, En) => format!("The {field} field must be an integer."),
            (NotInteger, Pt) => format!("O campo {field} deve ser um número inteiro."),
            (NotNumber, Es) => format!("El campo {field} debe ser un número."),
            (NotNumber, En) => format!("The {field} field must be a number."),
            (NotNumber, Pt) => format!("O campo {field} deve ser um número."),
            (NotBoolean, Es) => format!("El campo {field} debe ser verdadero o falso."),
            (NotBoolean, En) => format!("The {field} field must be true or false."),
            (NotBoolean, Pt) => format!("O campo {field} deve ser verdadeiro ou falso."),
            (PhoneFormat, Es) => {
                "El número de teléfono debe estar en formato internacional (ej: +573001234567)"
                    .into()
            }
            (PhoneFormat, En) => {
                "The phone number must be in international format (e.g. +573001234567)".into()
            }
            (PhoneFormat, Pt) => {
                "O número de telefone deve estar no formato internacional (ex: +573001234567)"
                    .into()
            }
            (PhoneTaken, Es) => "Este número de teléfono ya está registrado para este tenant".into(),
            (PhoneTaken, En) => "This phone number is already registered for this tenant".into(),
            (PhoneTaken, Pt) => "Este número de telefone já está registrado para este tenant".into(),
            (InstanceNameFormat, Es) => "El nombre de instancia solo puede contener letras, números, guiones y guiones bajos (máximo 50 caracteres)".into(),
            (InstanceNameFormat, En) => "The instance name may only contain letters, numbers, dashes and underscores (at most 50 characters)".into(),
            (InstanceNameFormat, Pt) => "O nome da instância só pode conter letras, números, hífens e sublinhados (máximo 50 caracteres)".into(),
            (InstanceNameTaken, Es) => "Este nombre de instancia ya está registrado en este servidor".into(),
            (InstanceNameTaken, En) => "This instance name is already registered on this server".into(),
            (InstanceNameTaken, Pt) => "Este nome de instância já está registrado neste servidor".into(),
            (DailyLimitMin, Es) => "El límite diario debe ser al menos 1".into(),
            (DailyLimitMin, En) => "The daily limit must be at least 1".into(),
            (DailyLimitMin, Pt) => "O limite diário deve ser de pelo menos 1".into(),
            (DailyLimitMax, Es) => "El límite diario no puede ser mayor que 100000".into(),
            (DailyLimitMax, En) => "The daily limit may not be greater than 100000".into(),
            (DailyLimitMax, Pt) => "O limite diário não pode ser maior que 100000".into(),
            (MaxLength(n), Es) => format!("El campo {field} no debe tener más de {n} caracteres."),
            (MaxLength(n), En) => format!("The {field} field must not be greater than {n} characters."),
            (MaxLength(n), Pt) => format!("O campo {field} não pode ter mais de {n} caracteres."),
            (MinLength(n), Es) => format!("El campo {field} debe tener al menos {n} caracteres."),
            (MinLength(n), En) => format!("The {field} field must be at least {n} characters."),
            (MinLength(n), Pt) => format!("O campo {field} deve ter pelo menos {n} caracteres."),
            (Between(a, b), Es) => format!("El campo {field} debe estar entre {a} y {b}."),
            (Between(a, b), En) => format!("The {field} field must be between {a} and {b}."),
            (Between(a, b), Pt) => format!("O campo {field} deve estar entre {a} e {b}."),
            (Min(n), Es) => format!("El campo {field} debe ser al menos {n}."),
            (Min(n), En) => format!("The {field} field must be at least {n}."),
            (Min(n), Pt) => format!("O campo {field} deve ser pelo menos {n}."),
            (OneOf(options), Es) => format!("El campo {field} debe ser uno de: {}.", options.join(", ")),
            (OneOf(options), En) => format!("The {field} field must be one of: {}.", options.join(", ")),
            (OneOf(options), Pt) => format!("O campo {field} deve ser um de: {}.", options.join(", ")),
            (Url, Es) => format!("El campo {field} debe ser una URL http(s) válida."),
            (Url, En) => format!("The {field} field must be a valid http(s) URL."),
            (Url, Pt) => format!("O campo {field} deve ser uma URL http(s) válida."),
            (Timezone, Es) => format!("El campo {field} debe ser una zona horaria IANA válida (ej: America/Bogota)."),
            (Timezone, En) => format!("The {field} field must be a valid IANA time zone (e.g. America/Bogota)."),
            (Timezone, Pt) => format!("O campo {field} deve ser um fuso horário IANA válido (ex: America/Bogota)."),
            (SlugFormat, Es) => "El slug solo puede contener letras minúsculas, números y guiones (máximo 64 caracteres)".into(),
            (SlugFormat, En) => "The slug may only contain lowercase letters, numbers and dashes (at most 64 characters)".into(),
            (SlugFormat, Pt) => "O slug só pode conter letras minúsculas, números e hífens (máximo 64 caracteres)".into(),
            (SlugTaken, Es) => "Este slug ya está en uso".into(),
            (SlugTaken, En) => "This slug is already taken".into(),
            (SlugTaken, Pt) => "Este slug já está em uso".into(),
            (WeakPassword, Es) => format!(
                "El campo {field} es demasiado débil; use una contraseña más larga y menos predecible."
            ),
            (WeakPassword, En) => {
                format!("The {field} is too weak; use a longer, less predictable password.")
            }
            (WeakPassword, Pt) => format!(
                "O campo {field} é fraco demais; use uma senha mais longa e menos previsível."
            ),
            (Email, Es) => format!("El campo {field} debe ser un correo electrónico válido."),
            (Email, En) => format!("The {field} field must be a valid email address."),
            (Email, Pt) => format!("O campo {field} deve ser um e-mail válido."),
            (EmailTaken, Es) => "Este correo electrónico ya está registrado".into(),
            (EmailTaken, En) => "This email address is already registered".into(),
            (EmailTaken, Pt) => "Este e-mail já está registrado".into(),
            (Prohibited, Es) => format!("El campo {field} no está permitido para este rol."),
            (Prohibited, En) => format!("The {field} field is not allowed for this role."),
            (Prohibited, Pt) => format!("O campo {field} não é permitido para esta função."),
            (TenantMissing, Es) => "El tenant seleccionado no existe".into(),
            (TenantMissing, En) => "The selected tenant does not exist".into(),
            (TenantMissing, Pt) => "O tenant selecionado não existe".into(),
            (CurrencyFormat, Es) => format!("El campo {field} debe ser un código de moneda ISO 4217 (ej: COP)."),
            (CurrencyFormat, En) => format!("The {field} field must be an ISO 4217 currency code (e.g. COP)."),
            (CurrencyFormat, Pt) => format!("O campo {field} deve ser um código de moeda ISO 4217 (ex: COP)."),
            (NotArray, Es) => format!("El campo {field} debe ser una lista."),
            (NotArray, En) => format!("The {field} field must be a list."),
            (NotArray, Pt) => format!("O campo {field} deve ser uma lista."),
            (NotObject, Es) => format!("El campo {field} debe ser un objeto."),
            (NotObject, En) => format!("The {field} field must be an object."),
            (NotObject, Pt) => format!("O campo {field} deve ser um objeto."),
            (UnknownEvent(event), Es) => format!("El evento {event} no es un evento de Evolution API."),
            (UnknownEvent(event), En) => format!("The event {event} is not an Evolution API event."),
            (UnknownEvent(event), Pt) => format!("O evento {event} não é um evento da Evolution API."),
            (EvolutionServerMissing, Es) => "El servidor Evolution seleccionado no existe".into(),
            (EvolutionServerMissing, En) => "The selected Evolution server does not exist".into(),
            (EvolutionServerMissing, Pt) => "O servidor Evolution selecionado não existe".into(),
            (EvolutionServerUnusable, Es) => "El servidor Evolution seleccionado está inactivo o no tiene API key".into(),
            (EvolutionServerUnusable, En) => "The selected Evolution server is inactive or has no API key".into(),
            (EvolutionServerUnusable, Pt) => "O servidor Evolution selecionado está inativo ou não tem API key".into(),
            (BaseUrlTaken, Es) => "Ya hay un servidor Evolution con esta URL".into(),
            (BaseUrlTaken, En) => "There is already an Evolution server with this URL".into(),
            (BaseUrlTaken, Pt) => "Já existe um servidor Evolution com esta URL".into(),
            (ApiKeyFormat, Es) => format!("El campo {field} solo puede contener caracteres ASCII visibles, sin espacios (máximo 255)."),
            (ApiKeyFormat, En) => format!("The {field} field may only contain visible ASCII characters, without spaces (at most 255)."),
            (ApiKeyFormat, Pt) => format!("O campo {field} só pode conter caracteres ASCII visíveis, sem espaços (máximo 255)."),
            (DateTime, Es) => format!("El campo {field} debe ser una fecha (AAAA-MM-DD) o una fecha y hora ISO 8601."),
            (DateTime, En) => format!("The {field} field must be a date (YYYY-MM-DD) or an ISO 8601 date and time."),
            (DateTime, Pt) => format!("O campo {field} deve ser uma data (AAAA-MM-DD) ou uma data e hora ISO 8601."),
            (AfterOrEqual(other), Es) => format!("El campo {field} debe ser una fecha posterior o igual a {other}."),
            (AfterOrEqual(other), En) => format!("The {field} field must be a date after or equal to {other}."),
            (AfterOrEqual(other), Pt) => format!("O campo {field} deve ser uma data posterior ou igual a {other}."),
            (NulCharacter, Es) => format!("El campo {field} no puede contener el carácter NUL."),
            (NulCharacter, En) => format!("The {field} field must not contain a NUL character."),
            (NulCharacter, Pt) => format!("O campo {field} não pode conter o caractere NUL."),
            (UrlCredentials, Es) => format!("El campo {field} no puede incluir usuario ni contraseña."),
            (UrlCredentials, En) => format!("The {field} field must not include a user name or password."),
            (UrlCredentials, Pt) => format!("O campo {field} não pode incluir usuário nem senha."),
            (MaxDecimals(n), Es) => format!("El campo {field} admite como máximo {n} decimales."),
            (MaxDecimals(n), En) => format!("The {field} field may have at most {n} decimals."),
            (MaxDecimals(n), Pt) => format!("O campo {field} admite no máximo {n} casas decimais."),
            (ApiKeyForNewHost(url), Es) => format!("El campo {field} es obligatorio cuando {url} cambia a otro servidor."),
            (ApiKeyForNewHost(url), En) => format!("The {field} field is required when {url} moves to another server."),
            (ApiKeyForNewHost(url), Pt) => format!("O campo {field} é obrigatório quando {url} muda para outro servidor."),
            (NotOnWhatsApp, Es) => format!("El número del campo {field} no está en WhatsApp."),
            (NotOnWhatsApp, En) => format!("The number in the {field} field is not on WhatsApp."),
            (NotOnWhatsApp, Pt) => format!("O número do campo {field} não está no WhatsApp."),
            (PrivateTarget, Es) => format!("El campo {field} no puede apuntar a una dirección local, privada o reservada (como localhost, 127.0.0.1, 10.0.0.0/8 o 169.254.169.254)."),
            (PrivateTarget, En) => format!("The {field} field must not point to a loopback, private or reserved address (such as localhost, 127.0.0.1, 10.0.0.0/8 or 169.254.169.254)."),
            (PrivateTarget, Pt) => format!("O campo {field} não pode apontar para um endereço local, privado ou reservado (como localhost, 127.0.0.1, 10.0.0.0/8 ou 169.254.169.254)."),
            (ClockTime, Es) => format!("El campo {field} debe ser una hora HH:MM (de 00:00 a 23:59)."),
            (ClockTime, En) => format!("The {field} field must be a time HH:MM (00:00 to 23:59)."),
            (ClockTime, Pt) => format!("O campo {field} deve ser um horário HH:MM (de 00:00 a 23:59)."),
            (EmptyWindow, Es) => format!("El campo {field} debe ser distinto del inicio: la franja quedaría vacía."),
            (EmptyWindow, En) => format!("The {field} field must differ from the start: the window would be empty."),
            (EmptyWindow, Pt) => format!("O campo {field} deve ser diferente do início: a janela ficaria vazia."),
        }
    }
}

/// Laravel's summary suffix: "(and N more errors)".
pub fn more_errors(count: usize, locale: Locale) -> String {
    match (locale, count) {
        (Locale::Es, 1) => "(y 1 error más)".into(),
        (Locale::Es, n) => format!("(y {n} errores más)"),
        (Locale::En, 1) => "(and 1 more error)".into(),
        (Locale::En, n) => format!("(and {n} more errors)"),
        (Locale::Pt, 1) => "(e mais 1 erro)".into(),
        (Locale::Pt, n) => format!("(e mais {n} erros)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Locale::negotiate("en-US,en;q=0.9"), Some(Locale::En));
        assert_eq!(
            Locale::negotiate("fr;q=1, pt-BR;q=0.8, en;q=0.5"),
            Some(Locale::Pt)
        );
        assert_eq!(Locale::negotiate("de, fr"), None);
    }

    #[test]
    fn summary_suffix_is_plural_aware() {
        assert_eq!(more_errors(1, Locale::En), "(and 1 more error)");
        assert_eq!(more_errors(3, Locale::Es), "(y 3 errores más)");
    }
}
