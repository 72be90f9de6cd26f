//! Enums kept in `Text` columns (error keys, statuses): diesel writes their `as_str()` and
//! reads them back through their parser, on either backend. Text that names no value is a
//! deserialization error (the query fails), never a panic and never a silent default.

/// Lets diesel read and write `$ty` as `Text`: `$ty` has `as_str(self) -> &'static str`,
/// `$parse` turns the stored text back into `Option<$ty>`, and the type derives
/// `diesel::AsExpression` and `diesel::FromSqlRow` with `sql_type = Text`.
macro_rules! stored_as_text {
    ($ty:ty, $parse:expr) => {
        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(raw: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(
                        raw,
                    )?;
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(&text).ok_or_else(|| {
                    format!("`{text}` is not a {} Relevo knows", stringify!($ty)).into()
                })
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }
    };
}

stored_as_text!(
    crate::error_key::ErrorKey,
    crate::error_key::ErrorKey::parse
);
stored_as_text!(crate::domain::ConnectionStatus, |raw| {
    crate::domain::ConnectionStatus::parse(raw).ok()
});
stored_as_text!(crate::domain::MessageStatus, |raw| {
    crate::domain::MessageStatus::parse(raw).ok()
});
stored_as_text!(crate::domain::DeliveryStatus, |raw| {
    crate::domain::DeliveryStatus::parse(raw).ok()
});

#[cfg(test)]
mod tests {
    use diesel::dsl::sql;
    use diesel::prelude::*;
    use diesel::result::Error;
    use diesel::sql_types::Text;

    use crate::db::DbConnection;
    use crate::domain::{ConnectionStatus, DeliveryStatus, MessageStatus};
    use crate::error_key::ErrorKey;

    fn sqlite() -> DbConnection {
        DbConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap())
    }

    /// What reading the text `literal` as a `T` failed with, causes included; a panic
    /// when it did not fail as a deserialization error.
    fn refusal<T>(literal: &str) -> String
    where
        T: diesel::deserialize::FromSqlRow<Text, <DbConnection as Connection>::Backend>
            + std::fmt::Debug
            + 'static,
    {
        let read = diesel::select(sql::<Text>(literal)).get_result::<T>(&mut sqlite());
        let Err(Error::DeserializationError(cause)) = read else {
            panic!("read as {read:?}");
        };
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(inner) = source {
            chain.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        chain
    }

    #[test]
    fn a_key_goes_in_as_its_string_and_comes_back_as_the_key() {
        let mut conn = sqlite();
        let key = ErrorKey::MessageSendTimeout;
        let stored: String = diesel::select(key.into_sql::<Text>())
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(stored, key.as_str());
        let read: ErrorKey = diesel::select(sql::<Text>(&format!("'{key}'")))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(read, key);
    }

    #[test]
    fn text_that_names_no_key_is_an_error() {
        let chain = refusal::<ErrorKey>("'message.sideways'");
        assert!(chain.contains("`message.sideways` is not a"), "{chain}");
    }

    #[test]
    fn connection_statuses_round_trip_and_other_text_is_an_error() {
        let mut conn = sqlite();
        for status in ConnectionStatus::ALL {
            let stored: String = diesel::select(status.into_sql::<Text>())
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(stored, status.as_str());
            let read: ConnectionStatus = diesel::select(sql::<Text>(&format!("'{status}'")))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(read, status);
        }
        // Evolution's word for it is not Relevo's.
        let chain = refusal::<ConnectionStatus>("'open'");
        assert!(chain.contains("`open` is not a"), "{chain}");
    }

    #[test]
    fn message_statuses_round_trip_and_other_text_is_an_error() {
        let mut conn = sqlite();
        for status in MessageStatus::ALL {
            let stored: String = diesel::select(status.into_sql::<Text>())
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(stored, status.as_str());
            let read: MessageStatus = diesel::select(sql::<Text>(&format!("'{status}'")))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(read, status);
        }
        let chain = refusal::<MessageStatus>("'Sent'");
        assert!(chain.contains("`Sent` is not a"), "{chain}");
    }

    #[test]
    fn delivery_statuses_round_trip_and_other_text_is_an_error() {
        let mut conn = sqlite();
        for status in DeliveryStatus::ALL {
            let stored: String = diesel::select(status.into_sql::<Text>())
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(stored, status.as_str());
            let read: DeliveryStatus = diesel::select(sql::<Text>(&format!("'{status}'")))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(read, status);
        }
        let chain = refusal::<DeliveryStatus>("'sent'");
        assert!(chain.contains("`sent` is not a"), "{chain}");
    }
}
