//! Dataset output: atomic writes, manifest, ImageFolder and VisDA list layouts.
