// Package media keeps the files agents attach to their replies. Each file
// lives under one directory, in a folder named by a random token, and is
// served at {public_url}/media/{token}/{name}, where Meta and Zenvia fetch
// it. The token is the only secret: whoever has the URL has the file.
//
// Only types the channels can carry are kept (images, audio, MP4 video, PDF
// and office documents), decided from the file's bytes; the type a browser
// declares counts only where the bytes agree with it.
package media
