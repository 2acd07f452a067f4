//! A server whose driver is missing still signs users in and says why it
//! cannot serve services.

use crate::start;
use flotilla::access::users;

#[test]
fn without_its_driver_the_server_still_signs_users_in_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flotilla.toml"),
        "[engine]\ndriver = \"missing\"\n",
    )
    .unwrap();
    let admin_password = {
        let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
            .unwrap()
            .boxed();
        users::bootstrap(&*store, data.path()).unwrap();
        let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
        auth.trim().split_once(':').unwrap().1.to_string()
    };
    let server = start(data.path());
    let admin = Some(("oneadmin", admin_password.as_str()));
    let (status, plugins) = server.call("GET", "/plugins", admin, None);
    assert_eq!(status, 200, "{plugins}");
    assert!(
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "sim")
    );
    assert_eq!(
        server.status("GET", "/plugins", Some(("oneadmin", "x")), None),
        401
    );
    let (status, err) = server.call("GET", "/service", admin, None);
    assert_eq!(status, 503);
    assert!(err["error"].as_str().unwrap().contains("driver"), "{err}");
}
