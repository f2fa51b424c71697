//! Column encodings (in progress).
