// Package config loads Conversa's TOML configuration: strict decoding (an
// unknown key is an error naming the key and its line), built-in defaults for
// every key but credentials, and validation whose errors also point at the
// line they are about.
package config
