//! Who may connect and what they may do: SASL credentials, delegation tokens and ACLs.

pub mod acls;
pub mod delegation_tokens;
pub mod sasl;
