"""The customer portal: accounts and tickets for signed-in customers in the help center."""
