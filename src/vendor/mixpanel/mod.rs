//! Mixpanel's feature-flag model: the file format, the resolved flag, its diff and rules.
