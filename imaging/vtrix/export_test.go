package vtrix

// Exported for the external tests and fuzz targets.
var (
	ParseStatus = parseStatus
	ParseSubmit = parseSubmit
	Classify    = classify
)
