package ociregistry

import "time"

// SetResumeWait replaces the pause before each resumption of a download
// until the test ends.
func SetResumeWait(t interface{ Cleanup(func()) }, wait time.Duration) {
	old := resumeWait
	resumeWait = func(int) time.Duration { return wait }
	t.Cleanup(func() { resumeWait = old })
}

// MaxResumes is how many times one download is taken up again.
const MaxResumes = maxResumes
