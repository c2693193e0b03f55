//! Model catalogs: the embedded Sweet Home 3D furniture, class maps, extraction cache, splits.
