//! A server whose driver is missing still signs users in and says why it
//! cannot serve services.

use crate::{prepare, start};

#[test]
fn without_its_driver_the_server_still_signs_users_in_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    // Installed but not a component: the server starts without its driver.
    // (A driver no plugin has is refused at start.)
    std::fs::create_dir(data.path().join("plugins")).unwrap();
    std::fs::write(data.path().join("plugins/broken.wasm"), b"not a component").unwrap();
    let admin_password = prepare(data.path(), "[engine]\ndriver = \"broken\"\n", &[], |_| {});
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
