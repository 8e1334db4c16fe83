package poyo

import "github.com/fluxbot/fluxbot/imaging"

// ParseStatus exposes the status body parser to the fuzz target and the
// table tests of documented bodies.
func ParseStatus(body []byte) (*imaging.Status, error) { return parseStatusResponse(200, body, nil) }
