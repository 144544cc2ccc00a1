# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_paas_global_optspecs
    string join \n a/app= json color= h/help V/version
end

function __fish_paas_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_paas_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_paas_using_subcommand
    set -l cmd (__fish_paas_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c paas -n "__fish_paas_needs_command" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_needs_command" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_needs_command" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_needs_command" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_needs_command" -s V -l version -d 'Print version'
complete -c paas -n "__fish_paas_needs_command" -f -a "login" -d 'Log in to a paas server with an API token'
complete -c paas -n "__fish_paas_needs_command" -f -a "logout" -d 'Remove the stored login'
complete -c paas -n "__fish_paas_needs_command" -f -a "whoami" -d 'Show the logged-in user'
complete -c paas -n "__fish_paas_needs_command" -f -a "apps" -d 'Manage apps (lists them without a subcommand)'
complete -c paas -n "__fish_paas_needs_command" -f -a "create" -d 'Create an app (same as `apps create`)'
complete -c paas -n "__fish_paas_needs_command" -f -a "destroy" -d 'Destroy an app (same as `apps destroy`)'
complete -c paas -n "__fish_paas_needs_command" -f -a "info" -d 'Show an app\'s details (same as `apps info`)'
complete -c paas -n "__fish_paas_needs_command" -f -a "git" -d 'Git integration'
complete -c paas -n "__fish_paas_needs_command" -f -a "keys" -d 'Manage your SSH keys (lists them without a subcommand)'
complete -c paas -n "__fish_paas_needs_command" -f -a "tokens" -d 'API tokens: list yours (without a subcommand), create a scoped one, revoke one'
complete -c paas -n "__fish_paas_needs_command" -f -a "access" -d 'Collaborators: list them (without a subcommand), add, change or remove one'
complete -c paas -n "__fish_paas_needs_command" -f -a "audit" -d 'The audit log: every change, who made it, from where, and how it ended'
complete -c paas -n "__fish_paas_needs_command" -f -a "builds" -d 'Show an app\'s builds (lists them without a subcommand)'
complete -c paas -n "__fish_paas_needs_command" -f -a "logs" -d 'Show an app\'s logs: dyno output and platform events (builds, releases, router, scheduler)'
complete -c paas -n "__fish_paas_needs_command" -f -a "metrics" -d 'Show the app\'s request and resource figures, per process type'
complete -c paas -n "__fish_paas_needs_command" -f -a "autoscale" -d 'Autoscaling: show it (without a subcommand), enable or disable it for a process type'
complete -c paas -n "__fish_paas_needs_command" -f -a "alerts" -d 'Alerts: list them (without a subcommand), add or remove one'
complete -c paas -n "__fish_paas_needs_command" -f -a "drains" -d 'Log drains: list them (without a subcommand), add or remove one'
complete -c paas -n "__fish_paas_needs_command" -f -a "open" -d 'Print the app\'s URL (and open it in a browser on a desktop)'
complete -c paas -n "__fish_paas_needs_command" -f -a "ps" -d 'List the app\'s dynos: type, name, state and since when, release, restarts, command'
complete -c paas -n "__fish_paas_needs_command" -f -a "scale" -d 'Show or change how many dynos of each process type run'
complete -c paas -n "__fish_paas_needs_command" -f -a "restart" -d 'Restart the app\'s dynos (new ones start and pass their health check before the old stop)'
complete -c paas -n "__fish_paas_needs_command" -f -a "run" -d 'Run a command in a one-off dyno of the app\'s current release'
complete -c paas -n "__fish_paas_needs_command" -f -a "stop" -d 'Stop a one-off dyno (SIGTERM, then SIGKILL after 10 s)'
complete -c paas -n "__fish_paas_needs_command" -f -a "config" -d 'Show and change an app\'s config vars (lists them without a subcommand)'
complete -c paas -n "__fish_paas_needs_command" -f -a "releases" -d 'Show an app\'s releases and roll back (lists them without a subcommand)'
complete -c paas -n "__fish_paas_needs_command" -f -a "rollback" -d 'Roll back to an earlier release (same as `releases rollback`)'
complete -c paas -n "__fish_paas_needs_command" -f -a "stack" -d 'Show the app\'s stack and the stacks the server has (`stack set` moves the app)'
complete -c paas -n "__fish_paas_needs_command" -f -a "addons" -d 'Add-ons: PostgreSQL and Redis, attached by config var (lists them without a subcommand)'
complete -c paas -n "__fish_paas_needs_command" -f -a "domains" -d 'Custom domains: point a DNS name at an app (lists them without a subcommand)'
complete -c paas -n "__fish_paas_needs_command" -f -a "certs" -d 'TLS certificates: list (without a subcommand), add, remove, and automatic ones (ACM)'
complete -c paas -n "__fish_paas_needs_command" -f -a "maintenance" -d 'Maintenance mode: show it (without a subcommand), turn it on or off'
complete -c paas -n "__fish_paas_needs_command" -f -a "router" -d 'The router\'s settings for the app: show them (without a subcommand), or change the request timeout or the largest request body'
complete -c paas -n "__fish_paas_needs_command" -f -a "limits" -d 'Flow control: show the app\'s limits (without a subcommand), set or remove them'
complete -c paas -n "__fish_paas_needs_command" -f -a "canary" -d 'Canary releases: show the one that runs (without a subcommand), promote or abort it, or set how the app\'s canaries run'
complete -c paas -n "__fish_paas_needs_command" -f -a "pg" -d 'PostgreSQL add-ons: psql and backups'
complete -c paas -n "__fish_paas_needs_command" -f -a "redis" -d 'Redis add-ons: redis-cli'
complete -c paas -n "__fish_paas_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c paas -n "__fish_paas_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand login" -l host -d 'Server URL [default: $PAAS_HOST, then the last login, then http://127.0.0.1:5500]' -r
complete -c paas -n "__fish_paas_using_subcommand login" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand login" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand login" -l token-stdin -d 'Read the token from standard input'
complete -c paas -n "__fish_paas_using_subcommand login" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand logout" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand logout" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand logout" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand logout" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand whoami" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand whoami" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand whoami" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand whoami" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -f -a "list" -d 'List the apps you can access'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -f -a "create" -d 'Create an app'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -f -a "info" -d 'Show an app\'s details'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -f -a "rename" -d 'Rename an app'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -f -a "destroy" -d 'Destroy an app with its config, builds and releases'
complete -c paas -n "__fish_paas_using_subcommand apps; and not __fish_seen_subcommand_from list create info rename destroy help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from list" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from create" -s r -l remote -d 'Name of the git remote to add' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from create" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from create" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from create" -l no-remote -d 'Do not add a git remote'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from info" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from info" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from info" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from info" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from rename" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from rename" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from rename" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from rename" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from destroy" -l confirm -d 'The app\'s name again, to confirm (required without a terminal)' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from destroy" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from destroy" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from destroy" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from destroy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the apps you can access'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create an app'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from help" -f -a "info" -d 'Show an app\'s details'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from help" -f -a "rename" -d 'Rename an app'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from help" -f -a "destroy" -d 'Destroy an app with its config, builds and releases'
complete -c paas -n "__fish_paas_using_subcommand apps; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand create" -s r -l remote -d 'Name of the git remote to add' -r
complete -c paas -n "__fish_paas_using_subcommand create" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand create" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand create" -l no-remote -d 'Do not add a git remote'
complete -c paas -n "__fish_paas_using_subcommand create" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand create" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand destroy" -l confirm -d 'The app\'s name again, to confirm (required without a terminal)' -r
complete -c paas -n "__fish_paas_using_subcommand destroy" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand destroy" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand destroy" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand destroy" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand info" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand info" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand info" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand info" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand git; and not __fish_seen_subcommand_from remote help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand git; and not __fish_seen_subcommand_from remote help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand git; and not __fish_seen_subcommand_from remote help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand git; and not __fish_seen_subcommand_from remote help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand git; and not __fish_seen_subcommand_from remote help" -f -a "remote" -d 'Add or replace the git remote for the app in the current repository'
complete -c paas -n "__fish_paas_using_subcommand git; and not __fish_seen_subcommand_from remote help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand git; and __fish_seen_subcommand_from remote" -s r -l remote -d 'Name of the git remote' -r
complete -c paas -n "__fish_paas_using_subcommand git; and __fish_seen_subcommand_from remote" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand git; and __fish_seen_subcommand_from remote" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand git; and __fish_seen_subcommand_from remote" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand git; and __fish_seen_subcommand_from remote" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand git; and __fish_seen_subcommand_from help" -f -a "remote" -d 'Add or replace the git remote for the app in the current repository'
complete -c paas -n "__fish_paas_using_subcommand git; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -f -a "list" -d 'List your SSH keys'
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -f -a "add" -d 'Add an SSH public key, so that you can `git push`'
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -f -a "remove" -d 'Remove one of your SSH keys'
complete -c paas -n "__fish_paas_using_subcommand keys; and not __fish_seen_subcommand_from list add remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from list" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from add" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from add" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from remove" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from remove" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "list" -d 'List your SSH keys'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add an SSH public key, so that you can `git push`'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove one of your SSH keys'
complete -c paas -n "__fish_paas_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand tokens; and not __fish_seen_subcommand_from create revoke help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand tokens; and not __fish_seen_subcommand_from create revoke help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand tokens; and not __fish_seen_subcommand_from create revoke help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand tokens; and not __fish_seen_subcommand_from create revoke help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand tokens; and not __fish_seen_subcommand_from create revoke help" -f -a "create" -d 'Create a scoped token (printed once)'
complete -c paas -n "__fish_paas_using_subcommand tokens; and not __fish_seen_subcommand_from create revoke help" -f -a "revoke" -d 'Revoke a token: requests with it are refused from now on'
complete -c paas -n "__fish_paas_using_subcommand tokens; and not __fish_seen_subcommand_from create revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -s d -l description -d 'What holds it, such as "GitHub Actions deploy" (1 to 100 characters)' -r
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -l role -d 'The most it may do: viewer, deployer or admin (never more than your own role)' -r
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -l expires -d 'How long it works: 1h, 30d, 90d, 1y…; without it, until revoked' -r
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -l all-apps -d 'For every app you may use instead of one app (-a APP)'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from revoke" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from revoke" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from revoke" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a scoped token (printed once)'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a token: requests with it are refused from now on'
complete -c paas -n "__fish_paas_using_subcommand tokens; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -f -a "add" -d 'Give a user a role on the app'
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -f -a "update" -d 'Change a collaborator\'s role'
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -f -a "remove" -d 'Take a collaborator\'s role away (their requests, log streams and pushes stop)'
complete -c paas -n "__fish_paas_using_subcommand access; and not __fish_seen_subcommand_from add update remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from add" -l role -d 'viewer, deployer or admin' -r
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from add" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from add" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from update" -l role -d 'viewer, deployer or admin' -r
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from update" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from update" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from update" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from remove" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from remove" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "add" -d 'Give a user a role on the app'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "update" -d 'Change a collaborator\'s role'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Take a collaborator\'s role away (their requests, log streams and pushes stop)'
complete -c paas -n "__fish_paas_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand audit" -l since -d 'How far back: 10m, 1h, 7d, 90d…' -r
complete -c paas -n "__fish_paas_using_subcommand audit" -s n -l num -d 'The most entries to show, newest kept (1 to 1000)' -r
complete -c paas -n "__fish_paas_using_subcommand audit" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand audit" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand audit" -l all -d 'The whole server\'s log, not one app\'s (server admins only)'
complete -c paas -n "__fish_paas_using_subcommand audit" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -f -a "list" -d 'List an app\'s builds, newest first'
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -f -a "info" -d 'Show one build'
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -f -a "output" -d 'Print a build\'s output (the latest build by default)'
complete -c paas -n "__fish_paas_using_subcommand builds; and not __fish_seen_subcommand_from list info output help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from list" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from info" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from info" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from info" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from info" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from output" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from output" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from output" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from output" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from help" -f -a "list" -d 'List an app\'s builds, newest first'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from help" -f -a "info" -d 'Show one build'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from help" -f -a "output" -d 'Print a build\'s output (the latest build by default)'
complete -c paas -n "__fish_paas_using_subcommand builds; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand logs" -s n -l num -d 'How many recent lines to show first' -r
complete -c paas -n "__fish_paas_using_subcommand logs" -l ps -d 'Only this process type or dyno: web, web.1, build…' -r
complete -c paas -n "__fish_paas_using_subcommand logs" -l source -d 'Only dyno output (app) or only platform lines (paas)' -r -f -a "app\t''
paas\t''"
complete -c paas -n "__fish_paas_using_subcommand logs" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand logs" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand logs" -s t -l tail -d 'Keep printing new lines as they come'
complete -c paas -n "__fish_paas_using_subcommand logs" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand logs" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand metrics" -l type -d 'Only this process type' -r
complete -c paas -n "__fish_paas_using_subcommand metrics" -l since -d 'How far back: 10m, 1h, 24h (at most)' -r
complete -c paas -n "__fish_paas_using_subcommand metrics" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand metrics" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand metrics" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand metrics" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and not __fish_seen_subcommand_from enable disable help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand autoscale; and not __fish_seen_subcommand_from enable disable help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand autoscale; and not __fish_seen_subcommand_from enable disable help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and not __fish_seen_subcommand_from enable disable help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and not __fish_seen_subcommand_from enable disable help" -f -a "enable" -d 'Autoscale a process type within a range, to a response-time and/or CPU target'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and not __fish_seen_subcommand_from enable disable help" -f -a "disable" -d 'Stop autoscaling a process type; its dyno count stays where it is'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and not __fish_seen_subcommand_from enable disable help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -l min -d 'The fewest dynos (at least 1)' -r
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -l max -d 'The most dynos (at most the server\'s per-app limit)' -r
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -l p95 -d 'Add dynos while the router\'s 95th percentile response time is over this (web only)' -r
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -l cpu -d 'Add dynos while the dynos\' mean CPU use is over this share of one core' -r
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from disable" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from disable" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from disable" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Autoscale a process type within a range, to a response-time and/or CPU target'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Stop autoscaling a process type; its dyno count stays where it is'
complete -c paas -n "__fish_paas_using_subcommand autoscale; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand alerts; and not __fish_seen_subcommand_from add remove help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand alerts; and not __fish_seen_subcommand_from add remove help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand alerts; and not __fish_seen_subcommand_from add remove help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand alerts; and not __fish_seen_subcommand_from add remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand alerts; and not __fish_seen_subcommand_from add remove help" -f -a "add" -d 'Call a webhook on an event or threshold'
complete -c paas -n "__fish_paas_using_subcommand alerts; and not __fish_seen_subcommand_from add remove help" -f -a "remove" -d 'Remove an alert'
complete -c paas -n "__fish_paas_using_subcommand alerts; and not __fish_seen_subcommand_from add remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from add" -l on -d 'crash, deploy-failed, canary, p95>TIME (p95>300ms) or 5xx>PERCENT (5xx>2%)' -r
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from add" -l webhook -d 'The http:// or https:// URL that gets the deliveries' -r
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from add" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from add" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from remove" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from remove" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from help" -f -a "add" -d 'Call a webhook on an event or threshold'
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove an alert'
complete -c paas -n "__fish_paas_using_subcommand alerts; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand drains; and not __fish_seen_subcommand_from add remove help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand drains; and not __fish_seen_subcommand_from add remove help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand drains; and not __fish_seen_subcommand_from add remove help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand drains; and not __fish_seen_subcommand_from add remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand drains; and not __fish_seen_subcommand_from add remove help" -f -a "add" -d 'Forward the app\'s log to a syslog server or an HTTPS endpoint'
complete -c paas -n "__fish_paas_using_subcommand drains; and not __fish_seen_subcommand_from add remove help" -f -a "remove" -d 'Stop forwarding to a drain'
complete -c paas -n "__fish_paas_using_subcommand drains; and not __fish_seen_subcommand_from add remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from add" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from add" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from remove" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from remove" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from help" -f -a "add" -d 'Forward the app\'s log to a syslog server or an HTTPS endpoint'
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Stop forwarding to a drain'
complete -c paas -n "__fish_paas_using_subcommand drains; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand open" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand open" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand open" -l no-browser -d 'Only print the URL'
complete -c paas -n "__fish_paas_using_subcommand open" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand open" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand ps" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand ps" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand ps" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand ps" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand scale" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand scale" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand scale" -l no-wait -d 'Return once the change is recorded and the dynos are started, without waiting for them to be up'
complete -c paas -n "__fish_paas_using_subcommand scale" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand scale" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand restart" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand restart" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand restart" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand restart" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand run" -s e -l env -d 'A variable for this run only, over the app\'s config vars (repeatable)' -r
complete -c paas -n "__fish_paas_using_subcommand run" -l timeout -d 'Stop the dyno after this long: 90s, 10m, 2h [default: 1h; the server sets a maximum]' -r
complete -c paas -n "__fish_paas_using_subcommand run" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand run" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand run" -l no-tty -d 'No terminal, even when stdin and stdout are one: separate stdout and stderr'
complete -c paas -n "__fish_paas_using_subcommand run" -s d -l detached -d 'Start the dyno and return its name; its output goes to the app\'s log'
complete -c paas -n "__fish_paas_using_subcommand run" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand run" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand stop" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand stop" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand stop" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand stop" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -l shell -d 'Print KEY=\'value\' lines that a POSIX shell can `eval` or a .env file can hold'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -f -a "list" -d 'List an app\'s config vars'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -f -a "get" -d 'Print one config var\'s value'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -f -a "set" -d 'Set config vars (one new release for all of them)'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -f -a "unset" -d 'Remove config vars (one new release for all of them)'
complete -c paas -n "__fish_paas_using_subcommand config; and not __fish_seen_subcommand_from list get set unset help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from list" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from list" -l shell -d 'Print KEY=\'value\' lines that a POSIX shell can `eval` or a .env file can hold'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from get" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from get" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from get" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from set" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from set" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from set" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from unset" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from unset" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from unset" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from unset" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "list" -d 'List an app\'s config vars'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print one config var\'s value'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set config vars (one new release for all of them)'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "unset" -d 'Remove config vars (one new release for all of them)'
complete -c paas -n "__fish_paas_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -s n -l num -d 'Only the newest NUM releases [default: all]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -f -a "list" -d 'List an app\'s releases, newest first'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -f -a "info" -d 'Show one release (the running one by default), with why it failed if it did'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -f -a "output" -d 'Print what a release\'s release command printed (the newest release by default)'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -f -a "rollback" -d 'Roll back to an earlier release (the one before the current by default)'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -f -a "retry" -d 'Retry the newest release when it failed: a new release with its build and config vars'
complete -c paas -n "__fish_paas_using_subcommand releases; and not __fish_seen_subcommand_from list info output rollback retry help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from list" -s n -l num -d 'Only the newest NUM releases [default: all]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from list" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from info" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from info" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from info" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from info" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from output" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from output" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from output" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from output" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from rollback" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from rollback" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from rollback" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from retry" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from retry" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from retry" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from retry" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from help" -f -a "list" -d 'List an app\'s releases, newest first'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from help" -f -a "info" -d 'Show one release (the running one by default), with why it failed if it did'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from help" -f -a "output" -d 'Print what a release\'s release command printed (the newest release by default)'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from help" -f -a "rollback" -d 'Roll back to an earlier release (the one before the current by default)'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from help" -f -a "retry" -d 'Retry the newest release when it failed: a new release with its build and config vars'
complete -c paas -n "__fish_paas_using_subcommand releases; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand rollback" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand rollback" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand rollback" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand stack; and not __fish_seen_subcommand_from set help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand stack; and not __fish_seen_subcommand_from set help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand stack; and not __fish_seen_subcommand_from set help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand stack; and not __fish_seen_subcommand_from set help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand stack; and not __fish_seen_subcommand_from set help" -f -a "set" -d 'Move the app to another stack; its next build (push again) runs on it'
complete -c paas -n "__fish_paas_using_subcommand stack; and not __fish_seen_subcommand_from set help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand stack; and __fish_seen_subcommand_from set" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand stack; and __fish_seen_subcommand_from set" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand stack; and __fish_seen_subcommand_from set" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand stack; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand stack; and __fish_seen_subcommand_from help" -f -a "set" -d 'Move the app to another stack; its next build (push again) runs on it'
complete -c paas -n "__fish_paas_using_subcommand stack; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "list" -d 'List the add-ons the app owns or has attached'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "create" -d 'Create an add-on for the app and attach it (the app gets its URL as a config var)'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "info" -d 'Show an add-on: its plan, state, owner and where it is attached'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "attach" -d 'Attach an add-on to an app: it gets the add-on\'s URL as a config var (a new release)'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "detach" -d 'Detach an add-on from an app: its config var goes (a new release); the add-on stays'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "destroy" -d 'Destroy an add-on with its data and backups, for good'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "rotate-credentials" -d 'Give an add-on new passwords; every app it is attached to gets its new URL (a release each)'
complete -c paas -n "__fish_paas_using_subcommand addons; and not __fish_seen_subcommand_from list create info attach detach destroy rotate-credentials help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from list" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from create" -l name -d 'The add-on\'s name [default: generated, like postgresql-shaped-12345]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from create" -l as -d 'The attachment\'s name: the app gets NAME_URL [default: DATABASE or REDIS when free]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from create" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from create" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from info" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from info" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from info" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from info" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from attach" -l as -d 'The attachment\'s name: the app gets NAME_URL [default: DATABASE or REDIS when free]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from attach" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from attach" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from attach" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from attach" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from detach" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from detach" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from detach" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from detach" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from destroy" -l confirm -d 'The add-on\'s name again, to confirm (required without a terminal)' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from destroy" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from destroy" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from destroy" -l force -d 'Detach it from every app first (one release each)'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from destroy" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from destroy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from rotate-credentials" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from rotate-credentials" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from rotate-credentials" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from rotate-credentials" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the add-ons the app owns or has attached'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create an add-on for the app and attach it (the app gets its URL as a config var)'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "info" -d 'Show an add-on: its plan, state, owner and where it is attached'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "attach" -d 'Attach an add-on to an app: it gets the add-on\'s URL as a config var (a new release)'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "detach" -d 'Detach an add-on from an app: its config var goes (a new release); the add-on stays'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "destroy" -d 'Destroy an add-on with its data and backups, for good'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "rotate-credentials" -d 'Give an add-on new passwords; every app it is attached to gets its new URL (a release each)'
complete -c paas -n "__fish_paas_using_subcommand addons; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -f -a "add" -d 'Add a custom domain to the app'
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -f -a "remove" -d 'Remove a custom domain from the app (and the ACM certificate only it had)'
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -f -a "wait" -d 'Wait until a domain\'s certificate is issued by ACM'
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -f -a "redirect-https" -d 'Answer the app\'s HTTP requests with a 301 to HTTPS (for hostnames it has a certificate for)'
complete -c paas -n "__fish_paas_using_subcommand domains; and not __fish_seen_subcommand_from add remove wait redirect-https help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from add" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from add" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from add" -l wait -d 'Wait until its certificate is issued (with ACM on)'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from remove" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from remove" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from wait" -l timeout -d 'How long to wait, in seconds' -r
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from wait" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from wait" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from wait" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from redirect-https" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from redirect-https" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from redirect-https" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from redirect-https" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a custom domain to the app'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a custom domain from the app (and the ACM certificate only it had)'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from help" -f -a "wait" -d 'Wait until a domain\'s certificate is issued by ACM'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from help" -f -a "redirect-https" -d 'Answer the app\'s HTTP requests with a 301 to HTTPS (for hostnames it has a certificate for)'
complete -c paas -n "__fish_paas_using_subcommand domains; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -f -a "add" -d 'Upload a certificate chain and its private key'
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -f -a "remove" -d 'Remove a certificate (its hostnames are then served by another, or over HTTP only)'
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -f -a "auto" -d 'Automated Certificate Management: status (without a subcommand), enable, disable'
complete -c paas -n "__fish_paas_using_subcommand certs; and not __fish_seen_subcommand_from add remove auto help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from add" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from add" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from remove" -l confirm -d 'The name again, to confirm (required without a terminal)' -r
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from remove" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from remove" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from auto" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from auto" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from auto" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from auto" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from auto" -f -a "enable" -d 'Order certificates for every custom domain (ACME HTTP-01 through the router) and renew them 30 days (or a third of their lifetime) before they expire'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from auto" -f -a "disable" -d 'Stop ordering and renewing; certificates already issued are served until they expire'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from auto" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "add" -d 'Upload a certificate chain and its private key'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a certificate (its hostnames are then served by another, or over HTTP only)'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "auto" -d 'Automated Certificate Management: status (without a subcommand), enable, disable'
complete -c paas -n "__fish_paas_using_subcommand certs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and not __fish_seen_subcommand_from on off help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand maintenance; and not __fish_seen_subcommand_from on off help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand maintenance; and not __fish_seen_subcommand_from on off help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and not __fish_seen_subcommand_from on off help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and not __fish_seen_subcommand_from on off help" -f -a "on" -d 'Answer every request with 503 and a maintenance page'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and not __fish_seen_subcommand_from on off help" -f -a "off" -d 'Serve requests again'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and not __fish_seen_subcommand_from on off help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from on" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from on" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from on" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from on" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from off" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from off" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from off" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from off" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from help" -f -a "on" -d 'Answer every request with 503 and a maintenance page'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from help" -f -a "off" -d 'Serve requests again'
complete -c paas -n "__fish_paas_using_subcommand maintenance; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand router; and not __fish_seen_subcommand_from timeout max-body-size help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand router; and not __fish_seen_subcommand_from timeout max-body-size help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand router; and not __fish_seen_subcommand_from timeout max-body-size help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand router; and not __fish_seen_subcommand_from timeout max-body-size help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand router; and not __fish_seen_subcommand_from timeout max-body-size help" -f -a "timeout" -d 'How long a dyno has to begin its response before the router answers 504 (Heroku\'s H12)'
complete -c paas -n "__fish_paas_using_subcommand router; and not __fish_seen_subcommand_from timeout max-body-size help" -f -a "max-body-size" -d 'The largest request body the router passes on to the app (413 beyond)'
complete -c paas -n "__fish_paas_using_subcommand router; and not __fish_seen_subcommand_from timeout max-body-size help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from timeout" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from timeout" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from timeout" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from timeout" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from max-body-size" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from max-body-size" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from max-body-size" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from max-body-size" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from help" -f -a "timeout" -d 'How long a dyno has to begin its response before the router answers 504 (Heroku\'s H12)'
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from help" -f -a "max-body-size" -d 'The largest request body the router passes on to the app (413 beyond)'
complete -c paas -n "__fish_paas_using_subcommand router; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand limits; and not __fish_seen_subcommand_from set unset help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand limits; and not __fish_seen_subcommand_from set unset help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand limits; and not __fish_seen_subcommand_from set unset help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand limits; and not __fish_seen_subcommand_from set unset help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand limits; and not __fish_seen_subcommand_from set unset help" -f -a "set" -d 'Set limits (the others stay as they are)'
complete -c paas -n "__fish_paas_using_subcommand limits; and not __fish_seen_subcommand_from set unset help" -f -a "unset" -d 'Remove limits (`rate` takes its `burst` with it)'
complete -c paas -n "__fish_paas_using_subcommand limits; and not __fish_seen_subcommand_from set unset help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from set" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from set" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from set" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from unset" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from unset" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from unset" -l all -d 'Remove every limit'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from unset" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from unset" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set limits (the others stay as they are)'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "unset" -d 'Remove limits (`rate` takes its `burst` with it)'
complete -c paas -n "__fish_paas_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -f -a "promote" -d 'Deploy the canary\'s release to every client: the running release\'s dynos drain and stop'
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -f -a "abort" -d 'Send every client back to the running release; the canary\'s release is marked failed'
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -f -a "start" -d 'Make the app\'s next push a canary (what it leaves out comes from canary:config)'
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -f -a "config" -d 'How the app\'s canaries run (the canary that runs keeps the settings it started with)'
complete -c paas -n "__fish_paas_using_subcommand canary; and not __fish_seen_subcommand_from promote abort start config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from promote" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from promote" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from promote" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from promote" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from abort" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from abort" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from abort" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from abort" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -l weight -d 'The share of clients the canary gets, in percent' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -l duration -d 'Promote it by itself after this long if healthy (600, 10m, 1h), or `none`' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -l max-5xx -d 'Abort when its 5xx share is this many percentage points over the running release\'s' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -l max-p95 -d 'Abort when its p95 is over this many times the running release\'s (and 50 ms more)' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -l cancel -d 'Forget the canary set for the next push'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -l weight -d 'Make every push a canary with this share of clients (1 to 99), or `none` (also `off`, 0)' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -l duration -d 'Promote a healthy canary by itself after this long (600, 10m, 1h), or `none`' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -l max-5xx -d 'Abort when its 5xx share is this many percentage points over the running release\'s' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -l max-p95 -d 'Abort when its p95 is over this many times the running release\'s (and 50 ms more)' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from config" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "promote" -d 'Deploy the canary\'s release to every client: the running release\'s dynos drain and stop'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "abort" -d 'Send every client back to the running release; the canary\'s release is marked failed'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "start" -d 'Make the app\'s next push a canary (what it leaves out comes from canary:config)'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "config" -d 'How the app\'s canaries run (the canary that runs keeps the settings it started with)'
complete -c paas -n "__fish_paas_using_subcommand canary; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand pg; and not __fish_seen_subcommand_from psql backups help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand pg; and not __fish_seen_subcommand_from psql backups help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand pg; and not __fish_seen_subcommand_from psql backups help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand pg; and not __fish_seen_subcommand_from psql backups help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand pg; and not __fish_seen_subcommand_from psql backups help" -f -a "psql" -d 'Open psql on a PostgreSQL add-on, connected as its app, from any machine with this CLI'
complete -c paas -n "__fish_paas_using_subcommand pg; and not __fish_seen_subcommand_from psql backups help" -f -a "backups" -d 'PostgreSQL backups (pg_dump custom format): list, capture, download, restore'
complete -c paas -n "__fish_paas_using_subcommand pg; and not __fish_seen_subcommand_from psql backups help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from psql" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from psql" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from psql" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from psql" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -a "list" -d 'List the backups, newest first'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -a "info" -d 'Show one backup: its state, size, times, and the whole of why it failed if it did'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -a "capture" -d 'Capture a backup now'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -a "download" -d 'Download a backup [default: the newest that succeeded] to a file [default: latest.dump]'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -a "restore" -d 'Restore a backup into the add-on, replacing its data (all or nothing)'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from backups" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from help" -f -a "psql" -d 'Open psql on a PostgreSQL add-on, connected as its app, from any machine with this CLI'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from help" -f -a "backups" -d 'PostgreSQL backups (pg_dump custom format): list, capture, download, restore'
complete -c paas -n "__fish_paas_using_subcommand pg; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand redis; and not __fish_seen_subcommand_from cli help" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand redis; and not __fish_seen_subcommand_from cli help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand redis; and not __fish_seen_subcommand_from cli help" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand redis; and not __fish_seen_subcommand_from cli help" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand redis; and not __fish_seen_subcommand_from cli help" -f -a "cli" -d 'Open redis-cli on a Redis add-on, from any machine with this CLI'
complete -c paas -n "__fish_paas_using_subcommand redis; and not __fish_seen_subcommand_from cli help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand redis; and __fish_seen_subcommand_from cli" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand redis; and __fish_seen_subcommand_from cli" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand redis; and __fish_seen_subcommand_from cli" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand redis; and __fish_seen_subcommand_from cli" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c paas -n "__fish_paas_using_subcommand redis; and __fish_seen_subcommand_from help" -f -a "cli" -d 'Open redis-cli on a Redis add-on, from any machine with this CLI'
complete -c paas -n "__fish_paas_using_subcommand redis; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand completions" -s a -l app -d 'App to act on [default: $PAAS_APP, then the `paas` git remote]' -r
complete -c paas -n "__fish_paas_using_subcommand completions" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c paas -n "__fish_paas_using_subcommand completions" -l json -d 'Print machine-readable JSON on stdout'
complete -c paas -n "__fish_paas_using_subcommand completions" -s h -l help -d 'Print help'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "login" -d 'Log in to a paas server with an API token'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "logout" -d 'Remove the stored login'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "whoami" -d 'Show the logged-in user'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "apps" -d 'Manage apps (lists them without a subcommand)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "create" -d 'Create an app (same as `apps create`)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "destroy" -d 'Destroy an app (same as `apps destroy`)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "info" -d 'Show an app\'s details (same as `apps info`)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "git" -d 'Git integration'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "keys" -d 'Manage your SSH keys (lists them without a subcommand)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "tokens" -d 'API tokens: list yours (without a subcommand), create a scoped one, revoke one'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "access" -d 'Collaborators: list them (without a subcommand), add, change or remove one'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "audit" -d 'The audit log: every change, who made it, from where, and how it ended'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "builds" -d 'Show an app\'s builds (lists them without a subcommand)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "logs" -d 'Show an app\'s logs: dyno output and platform events (builds, releases, router, scheduler)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "metrics" -d 'Show the app\'s request and resource figures, per process type'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "autoscale" -d 'Autoscaling: show it (without a subcommand), enable or disable it for a process type'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "alerts" -d 'Alerts: list them (without a subcommand), add or remove one'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "drains" -d 'Log drains: list them (without a subcommand), add or remove one'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "open" -d 'Print the app\'s URL (and open it in a browser on a desktop)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "ps" -d 'List the app\'s dynos: type, name, state and since when, release, restarts, command'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "scale" -d 'Show or change how many dynos of each process type run'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "restart" -d 'Restart the app\'s dynos (new ones start and pass their health check before the old stop)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "run" -d 'Run a command in a one-off dyno of the app\'s current release'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "stop" -d 'Stop a one-off dyno (SIGTERM, then SIGKILL after 10 s)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "config" -d 'Show and change an app\'s config vars (lists them without a subcommand)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "releases" -d 'Show an app\'s releases and roll back (lists them without a subcommand)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "rollback" -d 'Roll back to an earlier release (same as `releases rollback`)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "stack" -d 'Show the app\'s stack and the stacks the server has (`stack set` moves the app)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "addons" -d 'Add-ons: PostgreSQL and Redis, attached by config var (lists them without a subcommand)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "domains" -d 'Custom domains: point a DNS name at an app (lists them without a subcommand)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "certs" -d 'TLS certificates: list (without a subcommand), add, remove, and automatic ones (ACM)'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "maintenance" -d 'Maintenance mode: show it (without a subcommand), turn it on or off'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "router" -d 'The router\'s settings for the app: show them (without a subcommand), or change the request timeout or the largest request body'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "limits" -d 'Flow control: show the app\'s limits (without a subcommand), set or remove them'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "canary" -d 'Canary releases: show the one that runs (without a subcommand), promote or abort it, or set how the app\'s canaries run'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "pg" -d 'PostgreSQL add-ons: psql and backups'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "redis" -d 'Redis add-ons: redis-cli'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c paas -n "__fish_paas_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami apps create destroy info git keys tokens access audit builds logs metrics autoscale alerts drains open ps scale restart run stop config releases rollback stack addons domains certs maintenance router limits canary pg redis completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from apps" -f -a "list" -d 'List the apps you can access'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from apps" -f -a "create" -d 'Create an app'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from apps" -f -a "info" -d 'Show an app\'s details'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from apps" -f -a "rename" -d 'Rename an app'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from apps" -f -a "destroy" -d 'Destroy an app with its config, builds and releases'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from git" -f -a "remote" -d 'Add or replace the git remote for the app in the current repository'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "list" -d 'List your SSH keys'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "add" -d 'Add an SSH public key, so that you can `git push`'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "remove" -d 'Remove one of your SSH keys'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from tokens" -f -a "create" -d 'Create a scoped token (printed once)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from tokens" -f -a "revoke" -d 'Revoke a token: requests with it are refused from now on'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "add" -d 'Give a user a role on the app'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "update" -d 'Change a collaborator\'s role'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "remove" -d 'Take a collaborator\'s role away (their requests, log streams and pushes stop)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from builds" -f -a "list" -d 'List an app\'s builds, newest first'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from builds" -f -a "info" -d 'Show one build'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from builds" -f -a "output" -d 'Print a build\'s output (the latest build by default)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from autoscale" -f -a "enable" -d 'Autoscale a process type within a range, to a response-time and/or CPU target'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from autoscale" -f -a "disable" -d 'Stop autoscaling a process type; its dyno count stays where it is'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from alerts" -f -a "add" -d 'Call a webhook on an event or threshold'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from alerts" -f -a "remove" -d 'Remove an alert'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from drains" -f -a "add" -d 'Forward the app\'s log to a syslog server or an HTTPS endpoint'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from drains" -f -a "remove" -d 'Stop forwarding to a drain'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "list" -d 'List an app\'s config vars'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Print one config var\'s value'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Set config vars (one new release for all of them)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "unset" -d 'Remove config vars (one new release for all of them)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from releases" -f -a "list" -d 'List an app\'s releases, newest first'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from releases" -f -a "info" -d 'Show one release (the running one by default), with why it failed if it did'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from releases" -f -a "output" -d 'Print what a release\'s release command printed (the newest release by default)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from releases" -f -a "rollback" -d 'Roll back to an earlier release (the one before the current by default)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from releases" -f -a "retry" -d 'Retry the newest release when it failed: a new release with its build and config vars'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from stack" -f -a "set" -d 'Move the app to another stack; its next build (push again) runs on it'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from addons" -f -a "list" -d 'List the add-ons the app owns or has attached'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from addons" -f -a "create" -d 'Create an add-on for the app and attach it (the app gets its URL as a config var)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from addons" -f -a "info" -d 'Show an add-on: its plan, state, owner and where it is attached'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from addons" -f -a "attach" -d 'Attach an add-on to an app: it gets the add-on\'s URL as a config var (a new release)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from addons" -f -a "detach" -d 'Detach an add-on from an app: its config var goes (a new release); the add-on stays'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from addons" -f -a "destroy" -d 'Destroy an add-on with its data and backups, for good'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from addons" -f -a "rotate-credentials" -d 'Give an add-on new passwords; every app it is attached to gets its new URL (a release each)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from domains" -f -a "add" -d 'Add a custom domain to the app'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from domains" -f -a "remove" -d 'Remove a custom domain from the app (and the ACM certificate only it had)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from domains" -f -a "wait" -d 'Wait until a domain\'s certificate is issued by ACM'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from domains" -f -a "redirect-https" -d 'Answer the app\'s HTTP requests with a 301 to HTTPS (for hostnames it has a certificate for)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from certs" -f -a "add" -d 'Upload a certificate chain and its private key'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from certs" -f -a "remove" -d 'Remove a certificate (its hostnames are then served by another, or over HTTP only)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from certs" -f -a "auto" -d 'Automated Certificate Management: status (without a subcommand), enable, disable'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from maintenance" -f -a "on" -d 'Answer every request with 503 and a maintenance page'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from maintenance" -f -a "off" -d 'Serve requests again'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from router" -f -a "timeout" -d 'How long a dyno has to begin its response before the router answers 504 (Heroku\'s H12)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from router" -f -a "max-body-size" -d 'The largest request body the router passes on to the app (413 beyond)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from limits" -f -a "set" -d 'Set limits (the others stay as they are)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from limits" -f -a "unset" -d 'Remove limits (`rate` takes its `burst` with it)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "promote" -d 'Deploy the canary\'s release to every client: the running release\'s dynos drain and stop'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "abort" -d 'Send every client back to the running release; the canary\'s release is marked failed'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "start" -d 'Make the app\'s next push a canary (what it leaves out comes from canary:config)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from canary" -f -a "config" -d 'How the app\'s canaries run (the canary that runs keeps the settings it started with)'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from pg" -f -a "psql" -d 'Open psql on a PostgreSQL add-on, connected as its app, from any machine with this CLI'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from pg" -f -a "backups" -d 'PostgreSQL backups (pg_dump custom format): list, capture, download, restore'
complete -c paas -n "__fish_paas_using_subcommand help; and __fish_seen_subcommand_from redis" -f -a "cli" -d 'Open redis-cli on a Redis add-on, from any machine with this CLI'
