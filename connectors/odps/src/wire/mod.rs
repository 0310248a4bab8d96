//! The tunnel wire layer.
