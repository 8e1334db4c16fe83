package main

// wireFrontEnds adds the configured chat front ends to the app.
func (a *app) wireFrontEnds() error {
	return nil
}
