//! `X-Twilio-Signature` validation (COMPAT §11.4).
