//! Channel names (API.md 6): `user:{id}`, `conversation:{id}`,
//! `project:{id}`, `room:{name}`.

use uuid::Uuid;

/// A parsed channel name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelName {
    /// `user:{id}`: that user's own notifications; only they may subscribe.
    User(Uuid),
    /// `conversation:{id}`: a conversation's `chat.*` events; only its owner may subscribe.
    Conversation(Uuid),
    /// `project:{id}`: a project's changes; only its owner may subscribe, while it is live.
    Project(Uuid),
    /// `room:{name}`: open to any user; the name is 1-64 of `[A-Za-z0-9._-]`.
    Room(String),
}

impl ChannelName {
    /// Parses a channel name; `None` for anything that is not one.
    pub fn parse(name: &str) -> Option<Self> {
        let (kind, rest) = name.split_once(':')?;
        match kind {
            "user" => Uuid::parse_str(rest).ok().map(ChannelName::User),
            "conversation" => Uuid::parse_str(rest).ok().map(ChannelName::Conversation),
            "project" => Uuid::parse_str(rest).ok().map(ChannelName::Project),
            "room" if is_room_name(rest) => Some(ChannelName::Room(rest.to_string())),
            _ => None,
        }
    }

    /// Whether members' joins and leaves are announced (`room:` channels).
    pub fn has_presence(name: &str) -> bool {
        name.starts_with("room:")
    }

    /// The name of user `id`'s own channel, `user:{id}`.
    pub fn user(id: Uuid) -> String {
        format!("user:{id}")
    }

    /// The name of conversation `id`'s channel, `conversation:{id}`.
    pub fn conversation(id: Uuid) -> String {
        format!("conversation:{id}")
    }

    /// The name of project `id`'s channel, `project:{id}`.
    pub fn project(id: Uuid) -> String {
        format!("project:{id}")
    }
}

/// 1-64 of `[A-Za-z0-9._-]`.
fn is_room_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_kinds_and_nothing_else() {
        let id = Uuid::now_v7();
        assert_eq!(
            ChannelName::parse(&format!("user:{id}")),
            Some(ChannelName::User(id))
        );
        assert_eq!(
            ChannelName::parse("room:lobby-1.a_b"),
            Some(ChannelName::Room("lobby-1.a_b".into()))
        );
        for bad in [
            "room:",
            "room:a b",
            "room:ü",
            "user:nope",
            "lobby",
            "team:x",
            &format!("room:{}", "a".repeat(65)),
        ] {
            assert_eq!(ChannelName::parse(bad), None, "{bad}");
        }
    }
}
