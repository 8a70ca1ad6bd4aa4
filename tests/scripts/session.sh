# Login
curl -X POST http://localhost:5000/api/auth/login \
  -H "Content-Type: application/json" \
  -c cookies.txt \
  -d '{"email":"test@example.com","password":"SecurePass123!"}'

# Access protected endpoint
curl -X GET http://localhost:5000/api/auth/me -b cookies.txt

# Logout
curl -X POST http://localhost:5000/api/auth/logout -b cookies.txt

# Should fail after logout
curl -X GET http://localhost:5000/api/auth/me -b cookies.txt
