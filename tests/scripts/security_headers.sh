curl -I http://localhost:5000/api/auth/me
# Should see X-Content-Type-Options, X-Frame-Options, etc.
