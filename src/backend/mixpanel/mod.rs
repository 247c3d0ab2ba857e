//! The Mixpanel adapter: the Feature Flags management API (App API, service-account auth).
