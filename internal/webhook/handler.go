package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
)

// maxReviewBytes bounds a request body: kube-apiserver caps an object at
// about 3 MiB, and a review carries at most the object and its old version.
const maxReviewBytes = 8 << 20

// Handler serves AdmissionReview v1 requests with m.
func Handler(m *Mutator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		review, status, err := readReview(r)
		if err != nil {
			// Without a request's UID there is nothing to answer; the API
			// server applies the failure policy (Ignore: the pod goes
			// through unchanged).
			m.Log.Warn("refusing an admission call that is no AdmissionReview v1", "remote", r.RemoteAddr, "status", status, "error", err.Error())
			http.Error(w, err.Error(), status)
			return
		}
		answer := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: m.Admit(review.Request)}
		body, err := json.Marshal(answer)
		if err != nil {
			m.Log.Error("encoding the admission answer", "uid", string(review.Request.UID), "error", err.Error())
			http.Error(w, "encoding the answer", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// readReview decodes the body of an admission call, or says which HTTP
// status its fault deserves.
func readReview(r *http.Request) (*admissionv1.AdmissionReview, int, error) {
	if r.Method != http.MethodPost {
		return nil, http.StatusMethodNotAllowed, errors.New("admission calls are POSTs, not " + r.Method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q, want application/json", r.Header.Get("Content-Type"))
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxReviewBytes))
	if err != nil {
		return nil, http.StatusRequestEntityTooLarge, err
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &review); err != nil {
		return nil, http.StatusBadRequest, err
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" || review.Request == nil {
		return nil, http.StatusBadRequest, fmt.Errorf("want an admission.k8s.io/v1 AdmissionReview with a request, got %q %q", review.APIVersion, review.Kind)
	}
	return &review, 0, nil
}
