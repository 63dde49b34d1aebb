def test_login_refresh(user, login, api):
    body = login(user)
    r = api.post("/api/auth/refresh/", {"refresh": body["refresh"]}, format="json")
    assert r.status_code == 200, r.content
    api.credentials(HTTP_AUTHORIZATION="Bearer " + r.json()["access"])
    r = api.get("/api/me/")
    assert r.status_code == 200, r.content
    print(body)
