//! Which function this is: its name and its own ARN, which decide the alarms that are its own
//! (the heartbeat, the doctor).

use queue_scaler_core::Direction;

/// What `{function}` stands for in `QUEUE_SCALER_FUNCTION_ARN`: `scale-up` or `scale-down`.
pub(crate) fn function_name(direction: Direction) -> String {
    format!("scale-{direction}")
}

/// This function's own ARN, which decides the alarms that are its own (the heartbeat, the
/// doctor). Lambda passes it with each invocation (`invoked`); the runtime emulator (`cargo lambda
/// watch`) passes the placeholder `function-arn`, and the doctor run from a shell has none. There
/// `setting`, the value of `QUEUE_SCALER_FUNCTION_ARN`, names it, with `{function}` standing for
/// `scale-up` or `scale-down`, so one environment serves both functions. A Lambda ARN from the
/// runtime always wins.
pub(crate) fn own_function_arn(
    invoked: &str,
    direction: Direction,
    setting: Option<&str>,
) -> String {
    match setting {
        Some(arn) if !arn.is_empty() && !invoked.starts_with("arn:") => {
            arn.replace("{function}", &function_name(direction))
        }
        _ => invoked.to_owned(),
    }
}

/// The account and region of a Lambda function ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`),
/// each `None` where the ARN does not say (the emulator's placeholder).
pub(crate) fn arn_account_region(arn: &str) -> (Option<&str>, Option<&str>) {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", region, account, "function", ..] => (
            Some(*account).filter(|a| !a.is_empty()),
            Some(*region).filter(|r| !r.is_empty()),
        ),
        _ => (None, None),
    }
}

/// The other function's ARN, when `setting` (`QUEUE_SCALER_FUNCTION_ARN`) names both through
/// `{function}`: an alarm of the other function is then expected among the alarms one shared
/// environment names.
pub(crate) fn sibling_function_arn(direction: Direction, setting: Option<&str>) -> Option<String> {
    let other = match direction {
        Direction::Up => Direction::Down,
        Direction::Down => Direction::Up,
    };
    setting
        .filter(|arn| arn.contains("{function}"))
        .map(|arn| arn.replace("{function}", &function_name(other)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_arn_gives_its_account_and_region_and_a_placeholder_neither() {
        assert_eq!(
            arn_account_region("arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-up:live"),
            (Some("123456789012"), Some("eu-west-1"))
        );
        assert_eq!(arn_account_region("function-arn"), (None, None));
    }

    #[test]
    fn the_runtimes_arn_wins_and_the_setting_names_the_function_elsewhere() {
        let real = "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-up:live";
        let setting = Some("arn:aws:lambda:eu-west-1:123456789012:function:qs-{function}");
        assert_eq!(own_function_arn(real, Direction::Up, setting), real);
        assert_eq!(
            own_function_arn("function-arn", Direction::Down, setting),
            "arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-down"
        );
        assert_eq!(
            own_function_arn(
                "",
                Direction::Up,
                setting.map(|s| s.replace("{function}", "x")).as_deref()
            ),
            "arn:aws:lambda:eu-west-1:123456789012:function:qs-x"
        );
        assert_eq!(
            own_function_arn("function-arn", Direction::Up, None),
            "function-arn"
        );
        assert_eq!(
            own_function_arn("function-arn", Direction::Up, Some("")),
            "function-arn"
        );
        assert_eq!(
            sibling_function_arn(Direction::Up, setting).as_deref(),
            Some("arn:aws:lambda:eu-west-1:123456789012:function:qs-scale-down")
        );
        assert_eq!(
            sibling_function_arn(Direction::Up, Some("arn:aws:lambda:r:1:function:one")),
            None
        );
    }
}
