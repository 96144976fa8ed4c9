package server

import "net/http"

// serveReferrers answers GET /v2/NAME/referrers/DIGEST.
func (s *Server) serveReferrers(w http.ResponseWriter, r *http.Request, name, dgst string) {
	s.app.ServeHTTP(w, r)
}
