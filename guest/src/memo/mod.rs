//! MeMo, the message format of Danish Digital Post (NgDP): reading, validation and writing.
