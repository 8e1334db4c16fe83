package apixo

// Unexported parsers, exposed to the external tests and fuzz targets.
var (
	ParseStatus = parseStatus
	Classify    = classify
)
