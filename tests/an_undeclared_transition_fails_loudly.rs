//! A machine that takes a transition its table does not declare fails the
//! test that drove it (DESIGN, "Diagrams that stay honest").

use readerlink::runtime::example::SPEC;

#[test]
fn the_table_check_names_the_undeclared_transition() {
    let error = SPEC.check("rotating", "Pushed", "waiting_for_push").unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("rotating --Pushed--> waiting_for_push"),
        "{message}"
    );
    assert!(message.contains("turnstile"), "{message}");
}

#[test]
fn a_transition_declared_on_a_superstate_is_allowed_from_its_children() {
    assert!(
        SPEC.check("waiting_for_push", "AutoLockElapsed", "locked")
            .is_ok()
    );
    assert!(SPEC.check("rotating", "AutoLockElapsed", "locked").is_ok());
    assert!(
        SPEC.check("locked", "AutoLockElapsed", "locked").is_err(),
        "locked is not inside unlocked"
    );
}
