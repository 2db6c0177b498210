//! [`ActionBody`]: the body of `POST …/backup` and `…/restore`, read from the request's bytes in one pass.
//!
//! Every other request body becomes a `serde_json::Value` tree; this one is the POST a DR client (and a
//! CI storm) sends most, and a tree of owned strings and an ordered map for six fields was a visible
//! share of answering it. Here only the members the checks read are kept, as text borrowed from the
//! request where it has no escapes; the rest is parsed (so a syntax error anywhere is still an error)
//! and dropped. What the checks see is what they saw in the tree: a member's absence, `null`, a string,
//! or "something else", with the last of duplicate members winning, as `serde_json::Map` keeps it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::arm::error::ArmError;

/// One top-level member's value, as far as the checks care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member<'a> {
    Null,
    Str(Cow<'a, str>),
    /// A number, boolean, array or object.
    Other,
}

/// The members of a backup/restore body the checks read; `None` where the member is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionBody<'a> {
    /// False when the body was empty or JSON other than an object.
    pub is_object: bool,
    pub storage_account: Option<Member<'a>>,
    pub container_name: Option<Member<'a>>,
    pub backup_name: Option<Member<'a>>,
    pub access_type: Option<Member<'a>>,
    pub access_key: Option<Member<'a>>,
    pub client_id: Option<Member<'a>>,
}

impl<'a> ActionBody<'a> {
    /// Reads a request body. Empty (or only white space) is no body; malformed JSON is ARM's
    /// `InvalidRequestContent`, with the same text as for any other body.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ArmError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        // Checked as UTF-8 once, whole: parsed from bytes, serde_json checks each string apart, which
        // cost a POST more than a thousand instructions for its ten short strings (callgrind). Bytes
        // that are not UTF-8 are parsed as bytes, for serde_json's own message about where.
        let parsed = match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        };
        parsed.map_err(|e| ArmError::invalid_request_content(&e.to_string()))
    }

    /// A member by its JSON name, as the checks name it in their messages.
    pub fn member(&self, name: &str) -> Option<&Member<'a>> {
        match name {
            "storageAccount" => self.storage_account.as_ref(),
            "containerName" => self.container_name.as_ref(),
            "backupName" => self.backup_name.as_ref(),
            "accessType" => self.access_type.as_ref(),
            "accessKey" => self.access_key.as_ref(),
            "clientId" => self.client_id.as_ref(),
            _ => None,
        }
    }

    fn slot(&mut self, field: Field) -> Option<&mut Option<Member<'a>>> {
        Some(match field {
            Field::StorageAccount => &mut self.storage_account,
            Field::ContainerName => &mut self.container_name,
            Field::BackupName => &mut self.backup_name,
            Field::AccessType => &mut self.access_type,
            Field::AccessKey => &mut self.access_key,
            Field::ClientId => &mut self.client_id,
            Field::Unknown => return None,
        })
    }
}

/// A member's name, matched without keeping it (names are case-sensitive, as in the tree).
#[derive(Clone, Copy)]
enum Field {
    StorageAccount,
    ContainerName,
    BackupName,
    AccessType,
    AccessKey,
    ClientId,
    Unknown,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(FieldVisitor)
    }
}

struct FieldVisitor;

impl Visitor<'_> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
        Ok(match name {
            "storageAccount" => Field::StorageAccount,
            "containerName" => Field::ContainerName,
            "backupName" => Field::BackupName,
            "accessType" => Field::AccessType,
            "accessKey" => Field::AccessKey,
            "clientId" => Field::ClientId,
            _ => Field::Unknown,
        })
    }
}

impl<'de> Deserialize<'de> for ActionBody<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = ActionBody<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut body = ActionBody {
            is_object: true,
            ..ActionBody::default()
        };
        while let Some(field) = map.next_key::<Field>()? {
            match body.slot(field) {
                Some(slot) => *slot = Some(map.next_value()?),
                None => {
                    map.next_value::<Discard>()?;
                }
            }
        }
        Ok(body)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Discard::seq(seq)?;
        Ok(ActionBody::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ActionBody::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ActionBody::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ActionBody::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ActionBody::default())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ActionBody::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ActionBody::default())
    }
}

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(s.to_string())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(s)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Member::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Member::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Discard::seq(seq)?;
        Ok(Member::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Discard::map(map)?;
        Ok(Member::Other)
    }
}

/// A value read and dropped. Not serde's `IgnoredAny`: serde_json skips those with a lighter scanner whose
/// errors read differently ("invalid number" where the tree says "EOF while parsing a value"), and a
/// client's malformed body must get the same text whichever route reads it.
struct Discard;

impl Discard {
    fn seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Discard>()?.is_some() {}
        Ok(())
    }

    fn map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
        while map.next_key::<Discard>()?.is_some() {
            map.next_value::<Discard>()?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Discard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DiscardVisitor)
    }
}

struct DiscardVisitor;

impl<'de> Visitor<'de> for DiscardVisitor {
    type Value = Discard;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Discard, E> {
        Ok(Discard)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Discard, E> {
        Ok(Discard)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Discard, E> {
        Ok(Discard)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Discard, E> {
        Ok(Discard)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Discard, E> {
        Ok(Discard)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Discard, E> {
        Ok(Discard)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Discard, A::Error> {
        Discard::seq(seq).map(|()| Discard)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Discard, A::Error> {
        Discard::map(map).map(|()| Discard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// What the checks read, taken from a `Value` tree: the reading this module replaces.
    fn from_tree(bytes: &[u8]) -> Result<ActionBody<'static>, ArmError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ActionBody::default());
        }
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| ArmError::invalid_request_content(&e.to_string()))?;
        let Some(obj) = v.as_object() else {
            return Ok(ActionBody::default());
        };
        let member = |k: &str| {
            obj.get(k).map(|v| match v {
                Value::Null => Member::Null,
                Value::String(s) => Member::Str(Cow::Owned(s.clone())),
                _ => Member::Other,
            })
        };
        Ok(ActionBody {
            is_object: true,
            storage_account: member("storageAccount"),
            container_name: member("containerName"),
            backup_name: member("backupName"),
            access_type: member("accessType"),
            access_key: member("accessKey"),
            client_id: member("clientId"),
        })
    }

    #[test]
    fn plain_strings_are_borrowed_from_the_request() {
        let bytes =
            br#"{"storageAccount":"acct","containerName":"c","backupName":"b","accessKey":"k=="}"#;
        let body = ActionBody::parse(bytes).expect("valid");
        assert!(matches!(
            body.storage_account,
            Some(Member::Str(Cow::Borrowed("acct")))
        ));
        assert!(matches!(
            body.access_key,
            Some(Member::Str(Cow::Borrowed("k==")))
        ));
        assert_eq!(body.access_type, None);
    }

    #[test]
    fn escaped_strings_duplicates_and_other_values_read_as_the_tree_reads_them() {
        let bytes = br#"{"backupName":"a\u0062","backupName":"last","clientId":null,"accessType":7,"x":[1,{"y":2}]}"#;
        let body = ActionBody::parse(bytes).expect("valid");
        assert_eq!(body, from_tree(bytes).expect("valid"));
        assert_eq!(body.backup_name, Some(Member::Str("last".into())));
        assert_eq!(body.client_id, Some(Member::Null));
        assert_eq!(body.access_type, Some(Member::Other));
    }

    #[test]
    fn malformed_json_is_invalid_request_content_with_the_parser_text() {
        for bytes in [&b"{"[..], b"{\"a\":}", b"[1,]", b"{} x", b"nul"] {
            let ours = ActionBody::parse(bytes).expect_err("malformed");
            let tree = from_tree(bytes).expect_err("malformed");
            assert_eq!(
                (ours.status, &ours.code),
                (400, &"InvalidRequestContent".to_string())
            );
            assert_eq!(
                ours.message,
                tree.message,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn empty_and_non_object_bodies_are_not_objects() {
        for bytes in [&b""[..], b"  \n", b"null", b"[]", b"\"s\"", b"3", b"true"] {
            assert_eq!(
                ActionBody::parse(bytes).expect("valid"),
                ActionBody::default()
            );
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            "[a-z\\\\\"é]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::vec((member_name(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn member_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("storageAccount".to_string()),
            Just("containerName".to_string()),
            Just("backupName".to_string()),
            Just("accessType".to_string()),
            Just("accessKey".to_string()),
            Just("clientId".to_string()),
            "[a-zA-Z]{0,5}",
        ]
    }

    proptest! {
        /// Any JSON text, valid or cut short: the one-pass reading sees what the tree saw, errors alike.
        #[test]
        fn reads_every_body_as_the_value_tree_does(v in json_value(), cut in 0usize..40) {
            let text = v.to_string();
            let whole = text.as_bytes();
            let cut = &whole[..whole.len().saturating_sub(cut % (whole.len() + 1))];
            for bytes in [whole, cut] {
                match (ActionBody::parse(bytes), from_tree(bytes)) {
                    (Ok(ours), Ok(tree)) => prop_assert_eq!(ours, tree),
                    (Err(ours), Err(tree)) => prop_assert_eq!(ours.message, tree.message),
                    (ours, tree) => prop_assert!(false, "{:?}: ours {:?}, tree {:?}", String::from_utf8_lossy(bytes), ours, tree),
                }
            }
        }

        /// Any bytes in a member's string, UTF-8 or not: the same reading, the same errors.
        #[test]
        fn reads_any_bytes_in_a_string_as_the_value_tree_does(raw in prop::collection::vec(any::<u8>(), 0..24)) {
            let mut bytes = br#"{"storageAccount":""#.to_vec();
            bytes.extend_from_slice(&raw);
            bytes.extend_from_slice(br#""}"#);
            match (ActionBody::parse(&bytes), from_tree(&bytes)) {
                (Ok(ours), Ok(tree)) => prop_assert_eq!(ours, tree),
                (Err(ours), Err(tree)) => prop_assert_eq!(ours.message, tree.message),
                (ours, tree) => prop_assert!(false, "{:?}: ours {:?}, tree {:?}", raw, ours, tree),
            }
        }
    }
}
