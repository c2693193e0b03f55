//! Backgrounds composited behind the RGBA render.
