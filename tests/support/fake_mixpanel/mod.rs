//! A strict fake of Mixpanel's Feature Flags management API, on 127.0.0.1.
